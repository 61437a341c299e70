FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN apt-get update && apt-get install -y --no-install-recommends gettext && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml ./
COPY . .
RUN pip install --no-cache-dir .
RUN DEBUG=1 python manage.py collectstatic --noinput && DEBUG=1 python manage.py compilemessages --ignore=.venv
RUN useradd --create-home kabao && chown -R kabao /app
USER kabao
EXPOSE 8000
CMD ["gunicorn", "kabao.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "2"]
