#!/usr/bin/env python3
"""Writes the demo's sample data set into internal/sample/data (deterministic).

A small, realistic PaaS: 36 accounts in a dozen countries (names in Latin,
Greek, Cyrillic and Japanese scripts), every payment method kind, referrals
(one at its 12th referral period in September, 13th in October; a referrer
with no usage of its own; one, acc_tiny, whose rewards exceed its subtotal), and usage
over September and October 2026 with segments crossing the month boundary,
still running, a price change on 16 October and a few very short ones.
Rerun after editing: python3 scripts/gen-sample.py
"""
import csv
import json
import os
import random

OUT = os.path.join(os.path.dirname(__file__), "..", "internal", "sample", "data")
rnd = random.Random(20261001)

CATALOG = [
    ("container:XS", "XS container (256 MB)", "0.0069"),
    ("container:S", "S container (512 MB)", "0.0139"),
    ("container:M", "M container (1 GB)", "0.0278"),
    ("container:L", "L container (2 GB)", "0.0556"),
    ("container:XL", "XL container (4 GB)", "0.1111"),
    ("addon:postgresql-s", "PostgreSQL S", "0.0208"),
    ("addon:postgresql-m", "PostgreSQL M", "0.0417"),
    ("addon:mysql", "MySQL", "0.0208"),
    ("addon:redis", "Redis", "0.0069"),
    ("addon:rabbitmq", "RabbitMQ", "0.0139"),
    ("addon:elasticsearch", "Elasticsearch", "0.0833"),
]

# id, name, country, vat_number, created_at, referred_by, payment method (type, id) or None
ACCOUNTS = [
    ("acc_zoe", "Zoë Dupont SARL", "FR", None, "2025-03-10T09:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_acme", "Acme SAS", "FR", "FR40303265045", "2025-04-02T14:30:00Z", None, ("card", "pm_card_visa")),
    ("acc_ambassador", "Claire Ambassadeur", "FR", None, "2025-05-01T08:00:00Z", None, None),
    ("acc_veteran", "Vieux Port Logistique", "FR", "FR83404833048", "2025-10-14T11:00:00Z", "acc_acme", ("card", "pm_card_visa")),
    ("acc_muller", "Müller GmbH", "DE", "DE811569869", "2026-06-15T12:00:00Z", "acc_zoe", ("sepa_debit", "pm_sepa_debit_success")),
    ("acc_backerei", "Berliner Bäckerei Schmidt", "DE", None, "2025-11-20T10:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_omega", "Ωmega Inc", "US", None, "2025-02-01T00:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_athens", "Αθηναϊκή Λογισμική Α.Ε.", "GR", "EL094259216", "2025-09-09T09:09:09Z", None, ("card", "pm_card_visa")),
    ("acc_sofia", "Слънчев бряг ЕООД", "BG", "BG175074752", "2026-01-12T08:00:00Z", None, ("sepa_debit", "pm_sepa_debit_success")),
    ("acc_kyiv", "Київські хмари ТОВ", "UA", None, "2026-02-03T07:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_tokyo", "株式会社さくらクラウド", "JP", None, "2025-12-01T00:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_lodz", "Łódź Software Sp. z o.o.", "PL", "PL5260250274", "2026-03-03T10:00:00Z", None, ("sepa_debit", "pm_sepa_debit_fail")),
    ("acc_bistro", "Bistro Chez Paul", "FR", None, "2026-04-01T12:00:00Z", None, ("card", "pm_card_chargeDeclined")),
    ("acc_lumiere", "Studio Lumière", "FR", None, "2026-04-18T16:00:00Z", "acc_ambassador", ("card", "pm_card_chargeDeclinedInsufficientFunds")),
    ("acc_garage", "Garage Martin", "FR", None, "2026-05-05T09:00:00Z", None, None),
    ("acc_prepaid", "Prepaid Labs", "FR", None, "2026-01-20T09:00:00Z", "acc_ambassador", None),
    ("acc_milano", "Nuvola Milano S.r.l.", "IT", "IT00743110157", "2025-07-07T07:07:07Z", None, ("sepa_debit", "pm_sepa_debit_success")),
    ("acc_madrid", "Datos Castellanos S.L.", "ES", None, "2026-02-14T14:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_brussels", "Bruxelles Web SRL", "BE", "BE0403170701", "2025-08-18T10:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_amsterdam", "Grachten Hosting B.V.", "NL", None, "2026-05-20T10:00:00Z", "acc_zoe", ("sepa_debit", "pm_sepa_debit_success")),
    ("acc_wien", "Wiener Würstelstand GmbH", "AT", "ATU13585627", "2026-01-05T10:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_dublin", "Liffey Labs Ltd", "IE", "IE6388047V", "2025-06-30T10:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_lisboa", "Pastéis Digitais Lda", "PT", None, "2026-07-01T10:00:00Z", "acc_acme", ("card", "pm_card_visa")),
    ("acc_london", "Thames Compute Ltd", "GB", "GB980780684", "2025-05-15T10:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_zurich", "Zürcher Rechenzentrum AG", "CH", None, "2025-11-11T11:11:11Z", None, ("card", "pm_card_visa")),
    ("acc_oslo", "Fjord Apps AS", "NO", None, "2026-03-21T10:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_lyon", "Bouchon Lyonnais SAS", "FR", "FR03552081317", "2026-08-08T08:00:00Z", "acc_zoe", ("card", "pm_card_visa")),
    ("acc_nantes", "Atelier Nantais", "FR", None, "2026-09-12T10:00:00Z", "acc_acme", ("sepa_debit", "pm_sepa_debit_success")),
    ("acc_tiny", "Petit Projet", "FR", None, "2026-02-02T10:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_big", "MégaCorp Cloud SA", "FR", "FR23431451186", "2024-12-01T10:00:00Z", None, ("sepa_debit", "pm_sepa_debit_success")),
    ("acc_sleepy", "Dormant Apps", "FR", None, "2025-01-15T10:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_praha", "Vltava Software s.r.o.", "CZ", "CZ25596641", "2026-04-04T10:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_helsinki", "Sauna Systems Oy", "FI", None, "2026-06-06T10:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_riga", "Baltijas Mākonis SIA", "LV", None, "2026-07-17T10:00:00Z", "acc_tiny", ("card", "pm_card_visa")),
    ("acc_montreal", "Érable Numérique Inc", "CA", None, "2026-03-30T10:00:00Z", None, ("card", "pm_card_visa")),
    ("acc_marseille", "Calanques Data SAS", "FR", None, "2026-09-25T10:00:00Z", None, ("card", "pm_card_visa")),
]

# Legal data of some business accounts (SPEC §2, since v2): SIREN (French
# accounts: the one inside their VAT number), billing address, language.
LEGAL = {
    "acc_acme": {"siren": "303265045", "address": {"line1": "12 rue de la Paix", "line2": "", "postal_code": "75002", "city": "Paris"}},
    "acc_veteran": {"siren": "404833048", "address": {"line1": "5 quai du Port", "line2": "Bâtiment B", "postal_code": "13002", "city": "Marseille"}},
    "acc_lyon": {"siren": "552081317", "address": {"line1": "3 rue Mercière", "line2": "", "postal_code": "69002", "city": "Lyon"}},
    "acc_big": {"siren": "431451186", "language": "en",
                "address": {"line1": "1 esplanade de la Défense", "line2": "Tour Nuage", "postal_code": "92800", "city": "Puteaux"}},
    "acc_muller": {"address": {"line1": "Hauptstraße 1", "line2": "", "postal_code": "10115", "city": "Berlin"}},
    "acc_athens": {"address": {"line1": "Οδός Ερμού 10", "line2": "", "postal_code": "10563", "city": "Αθήνα"}},
}

SEP = "2026-09-01T00:00:00Z"
OCT = "2026-10-01T00:00:00Z"
NOV = "2026-11-01T00:00:00Z"
DAYS_SEP, DAYS_OCT = 30, 31

def ts(month, day, hour=0, minute=0, second=0):
    return f"2026-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}Z"

usage = []
def seg(acc, app, res, qty, start, end):
    usage.append({"id": f"seg_{len(usage) + 1:04d}", "account_id": acc, "app": app, "resource": res,
                  "quantity": qty, "started_at": start, "ended_at": end})

SIZES = ["container:XS", "container:S", "container:M", "container:L"]
ADDONS = ["addon:postgresql-s", "addon:postgresql-m", "addon:mysql", "addon:redis", "addon:rabbitmq"]
APPS = ["web", "api", "worker", "admin", "cron", "shop", "blog"]

for acc, _, _, _, created, _, _ in ACCOUNTS:
    if acc in ("acc_ambassador", "acc_sleepy"):
        continue  # no usage: the ambassador only refers, the sleeper sleeps
    if acc == "acc_tiny":
        seg(acc, "hello", "container:XS", 1, ts(10, 7, 9), ts(10, 7, 9, 0, 30))   # 30 s: rounds to 0.00, dropped
        seg(acc, "hello", "container:S", 1, ts(10, 8, 9), ts(10, 8, 21))           # 12 h
        continue
    if acc == "acc_big":
        for i in range(6):
            seg(acc, f"svc-{i}", "container:XL", 4, "2026-08-01T00:00:00Z", None)
        seg(acc, "search", "addon:elasticsearch", 3, "2026-08-01T00:00:00Z", None)
        continue
    start_month = 9 if created < SEP else (10 if created < OCT else 11)
    if acc == "acc_marseille":
        start_month = 10  # created late September, first usage in October
    napps = rnd.randint(1, 3)
    for a in rnd.sample(APPS, napps):
        size = rnd.choice(SIZES)
        qty = rnd.randint(1, 3)
        kind = rnd.random()
        first = ts(start_month, 1) if start_month == 9 else (ts(10, 1) if start_month == 10 else None)
        if first is None:
            continue
        if kind < 0.45:
            seg(acc, a, size, qty, "2026-08-20T00:00:00Z" if start_month == 9 else ts(10, 2, 8), None)  # still running
        elif kind < 0.75:
            d1 = rnd.randint(3, 25)
            seg(acc, a, size, qty, ts(9 if start_month == 9 else 10, d1, rnd.randint(0, 23)), ts(10, rnd.randint(3, 28), rnd.randint(0, 23)))
        else:
            for m, days in ((9, DAYS_SEP), (10, DAYS_OCT)):
                if m < start_month:
                    continue
                d1 = rnd.randint(1, days - 5)
                seg(acc, a, size, qty, ts(m, d1, rnd.randint(0, 23), rnd.choice([0, 15, 30, 45])),
                    ts(m, d1 + rnd.randint(1, 4), rnd.randint(0, 23)))
        if rnd.random() < 0.5:
            seg(acc, a, rnd.choice(ADDONS), 1, ts(9 if start_month == 9 else 10, rnd.randint(1, 10)), None)

# Hand-placed cases worth seeing on an invoice.
seg("acc_zoe", "web", "container:M", 2, ts(10, 14), ts(10, 18))          # crosses the 16 Oct price change
seg("acc_omega", "w", "container:M", 3, ts(10, 31, 23), ts(11, 1, 2))     # crosses the month end
seg("acc_omega", "w", "container:M", 1, ts(10, 10), ts(10, 10, 0, 0, 10)) # ten seconds
seg("acc_prepaid", "lab", "container:S", 1, ts(9, 1), None)
seg("acc_garage", "booking", "container:S", 1, ts(9, 1), None)

os.makedirs(OUT, exist_ok=True)
with open(os.path.join(OUT, "catalog.ndjson"), "w", encoding="utf-8") as f:
    for res, desc, price in CATALOG:
        f.write(json.dumps({"resource": res, "description": desc, "price_per_hour": price,
                            "effective_from": "2026-01-01T00:00:00Z"}, ensure_ascii=False) + "\n")
    f.write(json.dumps({"resource": "container:M", "description": "M container (1 GB)", "price_per_hour": "0.0300",
                        "effective_from": "2026-10-16T00:00:00Z"}) + "\n")
with open(os.path.join(OUT, "accounts.ndjson"), "w", encoding="utf-8") as f:
    for acc, name, country, vat, created, ref, pm in ACCOUNTS:
        row = {"id": acc, "name": name, "email": acc.removeprefix("acc_") + "@example.test", "country": country}
        if vat:
            row["vat_number"] = vat
        row["created_at"] = created
        if ref:
            row["referred_by"] = ref
        if pm:
            row["payment_method"] = {"type": pm[0], "id": pm[1]}
        row.update(LEGAL.get(acc, {}))
        f.write(json.dumps(row, ensure_ascii=False) + "\n")
# September's usage as NDJSON, the rest as CSV: the demo imports both formats.
sep = [u for u in usage if u["started_at"] < OCT]
rest = [u for u in usage if u["started_at"] >= OCT]
with open(os.path.join(OUT, "usage-2026-09.ndjson"), "w", encoding="utf-8") as f:
    for u in sep:
        f.write(json.dumps(u, ensure_ascii=False) + "\n")
with open(os.path.join(OUT, "usage-2026-10.csv"), "w", encoding="utf-8", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "account_id", "app", "resource", "quantity", "started_at", "ended_at"])
    for u in rest:
        w.writerow([u["id"], u["account_id"], u["app"], u["resource"], u["quantity"], u["started_at"], u["ended_at"] or ""])
print(f"{len(ACCOUNTS)} accounts, {len(usage)} segments ({len(sep)} NDJSON, {len(rest)} CSV)")
