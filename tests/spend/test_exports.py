"""Finance exports: CSV, XLSX and NDJSON with the Billing page's totals; large ones as a job; API; command."""

import csv
import datetime as dt
import io
import re

import openpyxl
import orjson
import pytest
from django.core.management import call_command
from django.utils import timezone

from apps.keys.services import management_key_create
from apps.spend.export_files import export_path
from apps.spend.forms import ExportForm
from apps.spend.models import ExportStatus, SpendExport
from apps.spend.services import exports
from apps.spend.services.exports import spend_export_run, spend_exports_expire
from tests.conftest import client_for
from tests.spend.conftest import NOW
from tests.world import ledger_add

pytestmark = pytest.mark.django_db
TOTAL_MICROS = 3_950_053  # the fixture's week (tests/spend/conftest.py)


def _page_total(client, org) -> int:  # type: ignore[no-untyped-def]
    html = client.get(f"/o/{org.slug}/billing/").content.decode()
    return int(re.search(r'id="total-cost">([0-9.]+)<', html).group(1).replace(".", ""))  # type: ignore[union-attr]


def _export(client, org, **fields):  # type: ignore[no-untyped-def]
    week = {"start": (NOW - dt.timedelta(days=6)).date(), "end": NOW.date()}
    return client.post(f"/o/{org.slug}/billing/exports/", week | fields)


def _body(response) -> bytes:  # type: ignore[no-untyped-def]
    body = b"".join(response.streaming_content)
    # read to the end, the test client closes the response and its file (without closing the test's connection)
    assert response.closed
    return body


def test_csv_xlsx_and_ndjson_downloads_have_the_page_s_totals(billed):
    org = billed["organization"]
    client = client_for(billed["users"]["viewer"])
    assert _page_total(client, org) == TOTAL_MICROS

    answer = _export(client, org, format="csv", group_by=["key", "model"], bucket="day")
    assert answer.status_code == 200 and answer["Content-Type"].startswith("text/csv")
    assert "attachment" in answer["Content-Disposition"] and "key-model.csv" in answer["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(_body(answer).decode())))
    assert sum(int(row["cost_micros"]) for row in rows) == TOTAL_MICROS
    assert {row["key_name"] for row in rows} == {"prod-key", "batch-key"}
    assert sum(int(row["requests"]) for row in rows) == 5 and all(row["bucket"].endswith("+00:00") for row in rows)

    answer = _export(client, org, format="xlsx", group_by=["team"])
    book = openpyxl.load_workbook(io.BytesIO(_body(answer)), read_only=True)
    sheet = list(book["Spend 1"].iter_rows(values_only=True))
    header, data = sheet[0], sheet[1:]
    cost = header.index("cost_micros")
    assert header[:2] == ("team_id", "team_name") and [row[1] for row in data] == ["Platform"]
    assert sum(row[cost] for row in data) == TOTAL_MICROS

    answer = _export(client, org, format="ndjson")  # no grouping: the range's totals
    (line,) = _body(answer).splitlines()
    assert orjson.loads(line)["cost_micros"] == TOTAL_MICROS and orjson.loads(line)["cost_usd"] == "3.950053"


def test_every_request_is_exported_from_the_ledger_within_its_retention(billed, settings):
    org = billed["organization"]
    client = client_for(billed["users"]["org_admin"])
    answer = _export(client, org, format="csv", every_request="on")
    rows = list(csv.DictReader(io.StringIO(_body(answer).decode())))
    assert len(rows) == 5 and sum(int(row["cost_micros"]) for row in rows) == TOTAL_MICROS
    assert {row["status_code"] for row in rows} == {"200", "500"} and not {"prompt", "messages", "completion"} & set(
        rows[0]
    )
    refused = _export(client, org, format="csv", every_request="on", start=NOW.date() - dt.timedelta(days=120))
    assert refused.status_code == 400 and "kept 90 days" in refused.content.decode()
    bad = _export(client, org, format="pdf")
    assert bad.status_code == 400 and 'id="export-error"' in bad.content.decode()


def test_a_large_export_runs_as_a_job_with_progress_and_a_download(
    billed, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(exports, "EXPORT_INLINE_ROWS", 2)
    org = billed["organization"]
    client = client_for(billed["users"]["org_admin"])
    with django_capture_on_commit_callbacks() as queued:
        answer = _export(client, org, format="csv", every_request="on")
    assert answer.status_code == 302 and answer["Location"].endswith("#exports") and len(queued) == 1
    export = SpendExport.objects.get(organization=org)
    assert (export.status, export.rows_expected) == (ExportStatus.PENDING, 5)
    page = client.get(f"/o/{org.slug}/billing/").content.decode()
    assert 'http-equiv="refresh"' in page and f'id="export-{export.pk}"' in page and "<progress" in page

    assert spend_export_run(export_id=export.pk) == ExportStatus.DONE
    assert spend_export_run(export_id=export.pk) == ExportStatus.DONE  # a redelivered task changes nothing
    export.refresh_from_db()
    assert export.rows_written == 5 and export.percent == 100
    page = client.get(f"/o/{org.slug}/billing/").content.decode()
    assert 'http-equiv="refresh"' not in page
    link = re.search(r'href="([^"]+)" class="download"', page).group(1)  # type: ignore[union-attr]
    rows = list(csv.DictReader(io.StringIO(_body(client.get(link)).decode())))
    assert sum(int(row["cost_micros"]) for row in rows) == TOTAL_MICROS
    stranger = client_for(billed["users"]["viewer"])  # same organisation: may download
    assert _body(stranger.get(link)).startswith(b"request_id,")
    assert client.get(link.replace(str(export.pk), str(export.pk + 999))).status_code == 404

    assert spend_exports_expire(now=timezone.now() + dt.timedelta(days=6)) == 0  # kept SPEND_EXPORT_KEEP_DAYS
    assert spend_exports_expire(now=timezone.now() + dt.timedelta(days=8)) == 1
    assert not export_path(export).exists() and client.get(link).status_code == 404
    assert "Expired (files are kept 7 days)" in client.get(f"/o/{org.slug}/billing/").content.decode()


def test_the_report_api_answers_json_files_and_jobs(billed, monkeypatch):
    org, admin = billed["organization"], billed["users"]["org_admin"]
    _, secret = management_key_create(organization=org, name="finance", actor=admin)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    client = client_for(None)
    week = {"start": (NOW - dt.timedelta(days=6)).date().isoformat(), "end": NOW.date().isoformat()}
    body = client.get("/spend/report", week | {"group_by": "model"}, **headers).json()
    assert body["totals"]["cost_micros"] == TOTAL_MICROS and body["totals"]["cost_usd"] == "3.950053"
    assert sum(row["cost_micros"] for row in body["data"]) == TOTAL_MICROS
    assert {row["model"] for row in body["data"]} == {"gpt-4o-mini", "claude-haiku-4-5"}

    answer = client.get("/spend/report", week | {"group_by": "user,key", "format": "csv"}, **headers)
    rows = list(csv.DictReader(io.StringIO(_body(answer).decode())))
    assert sum(int(row["cost_micros"]) for row in rows) == TOTAL_MICROS

    for params in ({"group_by": "colour"}, {"group_by": "key,key"}, {"bucket": "week"}, {"start": "2026-13-01"}):
        bad = client.get("/spend/report", week | params, **headers)
        assert bad.status_code == 400 and bad.json()["error"]["param"] in params, params
    assert client.get("/spend/report", week | {"every_request": "true"}, **headers).status_code == 400  # JSON

    monkeypatch.setattr(exports, "EXPORT_INLINE_ROWS", 1)
    queued = client.get("/spend/report", week | {"group_by": "key", "format": "ndjson"}, **headers)
    assert queued.status_code == 202 and queued.json()["status"] == "pending"
    export_id = queued.json()["id"]
    spend_export_run(export_id=export_id)
    status = client.get(f"/spend/exports/{export_id}", **headers).json()
    assert status["status"] == "done" and status["rows_written"] == 2
    lines = _body(client.get(status["download_url"], **headers)).splitlines()
    assert sum(orjson.loads(line)["cost_micros"] for line in lines) == TOTAL_MICROS


def test_the_management_command_writes_the_report_with_a_progress_bar(billed, tmp_path, capsys):
    org = billed["organization"]
    out = tmp_path / "spend.csv"
    start = (NOW - dt.timedelta(days=6)).date()  # call_command passes values as given: dates, as argparse makes
    call_command("spend_report", org=org.slug, start=start, end=NOW.date(), group_by="channel", output=str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert sum(int(row["cost_micros"]) for row in rows) == TOTAL_MICROS
    captured = capsys.readouterr()
    assert "100.0%" in captured.err and "Wrote 1 row(s)" in captured.out


def test_a_caller_s_text_never_becomes_a_spreadsheet_formula(billed):
    org = billed["organization"]
    ledger_add(org.pk, feature_id='=HYPERLINK("http://evil.example","x")', cost_micros=1)
    client = client_for(billed["users"]["org_admin"])
    rows = list(csv.DictReader(io.StringIO(_body(_export(client, org, format="csv", group_by=["feature"])).decode())))
    assert '\'=HYPERLINK("http://evil.example","x")' in {row["feature"] for row in rows}
    book = openpyxl.load_workbook(io.BytesIO(_body(_export(client, org, format="xlsx", group_by=["feature"]))))
    cells = [row[0] for row in book["Spend 1"].iter_rows(min_row=2)]
    (evil,) = [cell for cell in cells if str(cell.value).startswith("=")]
    assert evil.data_type == "s"  # text, not a formula


def test_export_jobs_are_shared_when_repeated_limited_per_organisation_and_survive_redelivery(
    billed, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(exports, "EXPORT_INLINE_ROWS", 1)
    org = billed["organization"]
    client = client_for(billed["users"]["org_admin"])
    with django_capture_on_commit_callbacks():
        assert _export(client, org, format="csv", every_request="on").status_code == 302
        assert _export(client, org, format="csv", every_request="on").status_code == 302  # the same job
        assert SpendExport.objects.filter(organization=org).count() == 1
        assert _export(client, org, format="xlsx", every_request="on").status_code == 302
        busy = _export(client, org, format="ndjson", every_request="on")
    assert busy.status_code == 429 and "2 exports are being prepared" in busy.content.decode()
    form = ExportForm({"group_by": ["key", "key"], "format": "csv"})
    assert form.is_valid() and form.cleaned_data["group_by"] == ["key"]  # a dimension named twice counts once

    first = SpendExport.objects.filter(organization=org, format="csv").get()
    write = exports.export_write
    calls = []

    def redelivered(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 1:  # the broker hands the task out again while the first attempt runs
            assert spend_export_run(export_id=first.pk) == ExportStatus.DONE
        return write(*args, **kwargs)

    monkeypatch.setattr(exports, "export_write", redelivered)
    assert spend_export_run(export_id=first.pk) == "superseded"
    first.refresh_from_db()
    assert first.status == ExportStatus.DONE and first.rows_written == 5
    rows = list(csv.DictReader(io.StringIO(export_path(first).read_text())))
    assert sum(int(row["cost_micros"]) for row in rows) == TOTAL_MICROS
    assert not list(export_path(first).parent.glob("*.part"))

    stuck = SpendExport.objects.filter(organization=org, format="xlsx").get()
    spend_exports_expire(now=timezone.now() + dt.timedelta(days=2))
    stuck.refresh_from_db()
    assert stuck.status == ExportStatus.FAILED and stuck.error.startswith("Interrupted")


def test_the_command_refuses_bad_instances_and_dates(tmp_path):
    from django.core.management.base import CommandError

    common = {"start": dt.date(2026, 11, 1), "end": dt.date(2026, 11, 2), "output": str(tmp_path / "x.csv")}
    with pytest.raises(CommandError, match="No instance"):
        call_command("spend_report", schema="nowhere", **common)
    with pytest.raises(CommandError, match="--end"):
        call_command("spend_report", **{**common, "end": dt.date(9999, 12, 31)})
    assert not (tmp_path / "x.csv").exists()
