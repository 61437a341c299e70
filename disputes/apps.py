from django.apps import AppConfig


class DisputesConfig(AppConfig):
    name = "disputes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from disputes.selectors import order_dispute_summary
        from marketplace.hooks import register_order_dispute_summary

        register_order_dispute_summary(order_dispute_summary)
