from django.apps import AppConfig


class DisputesConfig(AppConfig):
    name = "disputes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from disputes.selectors import order_dispute_summary
        from marketplace.hooks import register_order_dispute_summary

        register_order_dispute_summary(order_dispute_summary)

        from disputes.chargebacks import on_chargeback_closed, on_chargeback_opened
        from marketplace.signals import chargeback_closed, chargeback_opened

        chargeback_opened.connect(on_chargeback_opened, dispatch_uid="disputes.chargeback_opened")
        chargeback_closed.connect(on_chargeback_closed, dispatch_uid="disputes.chargeback_closed")
