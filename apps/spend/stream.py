"""Names of the spend event stream (shared by the gateway that writes it and the consumer that reads it)."""

from apps.core.redis import global_key

SPEND_STREAM = global_key("spend", "events")
SPEND_DEAD_LETTERS = global_key("spend", "dead")
SPEND_GROUP = "spend-writers"
