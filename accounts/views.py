from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from accounts.forms import EmailLoginForm, SignupForm
from accounts.services import user_register
from kabao.errors import DomainError
from kabao.rate_limits import rate_limit


@method_decorator(rate_limit("login", per="ip", methods=("POST",)), name="dispatch")
class EmailLoginView(LoginView):
    form_class = EmailLoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True


def _safe_next(request: HttpRequest) -> str:
    """The `next` page after sign-up, only if it is on this site (no open redirect)."""
    target = request.GET.get("next", "")
    is_safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if target and is_safe else settings.LOGIN_REDIRECT_URL


@rate_limit("signup", per="ip", methods=("POST",))
def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_register(email=form.cleaned_data["email"], password=form.cleaned_data["password"])
        except DomainError as exc:
            if exc.code == "email_taken":
                form.add_error("email", _("This email is already registered."))
            else:
                # weak_password: Django's validators already speak the request's language.
                form.add_error("password" if exc.code == "weak_password" else None, exc.message)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect(_safe_next(request))
    return render(request, "accounts/signup.html", {"form": form, "next": request.GET.get("next", "")})
