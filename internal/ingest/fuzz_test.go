package ingest

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shopspring/decimal"

	"github.com/billingengine/engine/billing"
)

// decodeFile runs the database-free half of an import (splitting, parsing,
// per-line checks) over data, the way run does, one line at a time.
func decodeFile(t *testing.T, sp *spec, data []byte, format Format) (rows [][]any, problems []Problem) {
	fields := newFieldSet(sp.fields)
	ur, header, err := newUnitReader(newReader(bytes.NewReader(data)), format, 4096, fields, sp.csvRequired)
	if err != nil {
		return nil, []Problem{{Message: err.Error()}}
	}
	lastLine := 0
	for {
		u, err := ur.next()
		if errors.Is(err, io.EOF) {
			return rows, problems
		}
		if err != nil {
			return rows, append(problems, Problem{Message: err.Error()})
		}
		if u.line <= lastLine {
			t.Fatalf("line numbers go back: %d after %d", u.line, lastLine)
		}
		lastLine = u.line
		rec, prob := decodeUnit(u, fields, header)
		if prob == nil {
			fr := &fieldReader{rec: rec}
			vals := sp.decode(fr)
			if prob = fr.problem(); prob == nil {
				if len(vals) != len(sp.columns) {
					t.Fatalf("line %d: %d values for %d columns", u.line, len(vals), len(sp.columns))
				}
				rows = append(rows, vals)
				continue
			}
		}
		if prob.Line != u.line {
			t.Fatalf("a problem of line %d is reported on line %d: %s", u.line, prob.Line, prob.Message)
		}
		if prob.Message == "" || !utf8.ValidString(prob.Message) {
			t.Fatalf("line %d: a problem must say what is wrong in valid UTF-8, got %q", u.line, prob.Message)
		}
		problems = append(problems, *prob)
	}
}

func addSeeds(f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
}

func format(csv bool) Format {
	if csv {
		return FormatCSV
	}
	return FormatNDJSON
}

// An accepted text is valid UTF-8, without NUL (Postgres refuses it).
func checkText(t *testing.T, what string, v any) {
	s, ok := v.(string)
	if !ok {
		t.Fatalf("%s: %T, want a string", what, v)
	}
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		t.Fatalf("%s: accepted %q", what, s)
	}
}

func checkTime(t *testing.T, what string, v any) time.Time {
	ts, ok := v.(time.Time)
	if !ok {
		t.Fatalf("%s: %T, want a time", what, v)
	}
	if ts.Before(minTime) || !ts.Before(maxTime) || ts.Location() != time.UTC {
		t.Fatalf("%s: accepted %s", what, ts)
	}
	return ts
}

func FuzzDecodeUsage(f *testing.F) {
	addSeeds(f,
		`{"id":"s1","account_id":"acc_1","app":"web","resource":"container:M","quantity":2,"started_at":"2026-10-01T00:00:00Z","ended_at":null}`+"\n",
		`{"id":"s1","account_id":"acc_1","app":"wéb 株","resource":"addon:pg","quantity":1,"started_at":"2026-10-01T00:00:00+02:00","ended_at":"2026-10-01T00:00:00.000001+02:00","extra":{"x":[1,2]}}`,
		"id,account_id,app,resource,quantity,started_at,ended_at\ns1,acc_1,web,container:M,3,2026-10-01T00:00:00Z,\n",
		"\xef\xbb\xbfid,account_id,app,resource,quantity,started_at,ended_at\r\ns1,acc_1,\"a,\"\"b\",container:M,3,2026-10-01T00:00:00Z,2026-10-02T00:00:00Z\r\n",
		`{"id":"s1","quantity":1e400,"started_at":"9999-12-31T23:59:59Z"}`,
		`{"id":"s1","id":"s2"}`+"\n\n"+`{"id":"x'; DROP TABLE accounts; --"}`,
	)
	f.Fuzz(func(t *testing.T, data []byte, csv bool) {
		rows, _ := decodeFile(t, usageSpec, data, format(csv))
		for _, r := range rows {
			for i := range 4 {
				checkText(t, usageSpec.columns[i], r[i])
			}
			if q := r[4].(int32); q < 1 || q > 1_000_000 {
				t.Fatalf("quantity %d accepted", q)
			}
			start := checkTime(t, "started_at", r[5])
			if r[6] != nil {
				if end := checkTime(t, "ended_at", r[6]); !end.After(start) {
					t.Fatalf("ended_at %s not after started_at %s accepted", end, start)
				}
			}
		}
	})
}

func FuzzDecodeAccounts(f *testing.F) {
	addSeeds(f,
		`{"id":"acc_1","name":"Łódź Ωmega 株式会社","email":"a@b.example","country":"PL","vat_number":"PL5260250995","created_at":"2026-01-01T00:00:00Z","referred_by":"acc_0","payment_method":{"type":"card","id":"pm_card_visa"}}`,
		"id,name,email,country,created_at,payment_method.type,payment_method.id\nacc_1,A,a@b.example,FR,2026-01-01T00:00:00Z,sepa_debit,pm_x\n",
		`{"id":"acc_1","name":"\u0000","email":"not an email","country":"fr","created_at":"2026-13-01T00:00:00Z"}`,
		`{"id":"acc_1","name":"A","email":"a@b.example","country":"FR","vat_number":"FR40303265045","siren":"303265045","language":"en","created_at":"2026-01-01T00:00:00Z","address":{"line1":"12 rue de la Paix","line2":"","postal_code":"75002","city":"Paris","country":"FR"}}`,
		"id,name,email,country,created_at,vat_number,siren,address_line1,address_postal_code,address_city\nacc_1,A,a@b.example,GR,2026-01-01T00:00:00Z,EL094259216,,Ermou 10,10563,Athens\n",
	)
	f.Fuzz(func(t *testing.T, data []byte, csv bool) {
		sp := accountsSpec(AccountsOptions{})
		rows, _ := decodeFile(t, sp, data, format(csv))
		for _, r := range rows {
			for i, col := range sp.columns {
				if r[i] != nil && col != "created_at" {
					checkText(t, col, r[i])
				}
			}
			checkTime(t, "created_at", r[5])
			if (r[7] == nil) != (r[8] == nil) {
				t.Fatalf("half a payment method accepted: %v %v", r[7], r[8])
			}
			// The legal data accepted is what migration 0012 and the
			// documents expect.
			siren, _ := r[14].(string)
			if r[14] != nil && !billing.ValidSIREN(siren) {
				t.Fatalf("SIREN %q accepted", siren)
			}
			if r[4] != nil {
				if err := billing.CheckVATNumber(r[3].(string), r[4].(string), siren); err != nil {
					t.Fatalf("VAT number accepted: %v", err)
				}
			}
			if !billing.Language(r[15].(string)).Valid() {
				t.Fatalf("language %q accepted", r[15])
			}
			if whole := r[9] != nil && r[11] != nil && r[12] != nil && r[13] != nil; !whole && (r[9] != nil || r[10] != nil || r[11] != nil || r[12] != nil || r[13] != nil) {
				t.Fatalf("part of an address accepted: %v", r[9:14])
			}
		}
	})
}

func FuzzDecodeCatalog(f *testing.F) {
	addSeeds(f,
		`{"resource":"container:M","description":"M","price_per_hour":"0.0278","effective_from":"2026-01-01T00:00:00Z"}`,
		"resource,description,price_per_hour,effective_from\naddon:pg,PostgreSQL,0.0417,2026-01-01T00:00:00Z\n",
		`{"resource":"container:M","description":"M","price_per_hour":"-1","effective_from":"2026-01-01T00:00:00Z"}`,
		`{"resource":"container:M","description":"M","price_per_hour":"1e999999999","effective_from":"2026-01-01T00:00:00Z"}`,
		`{"resource":"container:M","description":"M","price_per_hour":0.5,"effective_from":"2026-01-01T00:00:00Z"}`,
	)
	f.Fuzz(func(t *testing.T, data []byte, csv bool) {
		rows, _ := decodeFile(t, catalogSpec, data, format(csv))
		for _, r := range rows {
			checkText(t, "resource", r[0])
			checkText(t, "description", r[1])
			p, ok := r[2].(decimal.Decimal)
			if !ok {
				t.Fatalf("price_per_hour: %T", r[2])
			}
			// numeric(16, 10) in the schema: at most 6 integer digits and 10
			// decimals, never negative.
			if p.Sign() < 0 || p.Exponent() < -10 || p.Cmp(decimal.New(1, 6)) >= 0 {
				t.Fatalf("price_per_hour %s accepted", p)
			}
			checkTime(t, "effective_from", r[3])
		}
	})
}
