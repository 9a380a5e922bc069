from django.db import migrations

# UPDATE and DELETE on an entry raise, whoever issues them: the balance is the sum of what was written.
FORBID = """
CREATE OR REPLACE FUNCTION wallet_walletentry_forbid_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'wallet entries are append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER wallet_walletentry_append_only
    BEFORE UPDATE OR DELETE ON wallet_walletentry
    FOR EACH ROW EXECUTE FUNCTION wallet_walletentry_forbid_change();
"""

ALLOW = """
DROP TRIGGER IF EXISTS wallet_walletentry_append_only ON wallet_walletentry;
DROP FUNCTION IF EXISTS wallet_walletentry_forbid_change();
"""


class Migration(migrations.Migration):
    dependencies = [("wallet", "0001_initial")]
    operations = [migrations.RunSQL(FORBID, ALLOW)]
