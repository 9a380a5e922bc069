"""Celery beat's periodic tasks."""

from hydite.settings.base import HYDITE_STATE_DIR

CELERY_BEAT_SCHEDULE_FILENAME = str(HYDITE_STATE_DIR / "celerybeat-schedule")

CELERY_BEAT_SCHEDULE = {
    "invitations-purge-expired": {
        "task": "apps.orgs.tasks.invitations_purge_expired_task",
        "schedule": 24 * 60 * 60,
    },
    "subscriptions-roll": {
        "task": "apps.billing.tasks.subscriptions_roll_task",
        "schedule": 60,
    },
    "invoices-issue": {
        "task": "apps.wallet.tasks.invoices_issue_task",
        "schedule": 60 * 60,
    },
    "wallet-snapshots-heal": {
        "task": "apps.wallet.tasks.wallet_snapshots_heal_task",
        "schedule": 60,
    },
    "wallet-periods-roll": {
        "task": "apps.wallet.tasks.wallet_periods_roll_task",
        "schedule": 60,
    },
    "spend-rollups-roll": {
        "task": "apps.spend.tasks.spend_rollups_roll_task",
        "schedule": 30,
    },
    "spend-exports-expire": {
        "task": "apps.spend.tasks.spend_exports_expire_task",
        "schedule": 24 * 60 * 60,
    },
    "spend-ledger-prune": {
        "task": "apps.spend.tasks.spend_ledger_prune_task",
        "schedule": 24 * 60 * 60,
    },
    "budget-counters-heal": {
        "task": "apps.quotas.tasks.budget_counters_heal_task",
        "schedule": 60,
    },
    "budget-alerts-dispatch-pending": {
        "task": "apps.notifications.tasks.budget_alerts_dispatch_pending_task",
        "schedule": 5 * 60,
    },
}
