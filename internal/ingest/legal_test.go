package ingest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/ingest"
)

// Every check of the legal data names its field in the FILE:LINE: field:
// message form, and a file with one bad line writes nothing, in NDJSON as
// in CSV.
func TestAccountsLegalDataValidation(t *testing.T) {
	t.Parallel()
	line := func(over string) string {
		return `{"id":"b1","name":"Beta","email":"b1@example.test","country":"FR","created_at":"2026-05-01T00:00:00Z"` + over + `}`
	}
	for _, tc := range []struct {
		name, in, want string
	}{
		{"SIREN fails Luhn", line(`,"siren":"303265046"`), `siren: "303265046" is not a SIREN: 9 digits`},
		{"SIREN too short", line(`,"siren":"30326504"`), `siren: "30326504" is not a SIREN`},
		{"SIREN with spaces", line(`,"siren":"303 265 045"`), `siren: "303 265 045" is not a SIREN`},
		{"SIREN as a number", line(`,"siren":303265045`), `siren: must be a string`},
		{"French key wrong", line(`,"vat_number":"FR41303265045"`), `vat_number: "FR41303265045": the key 41 does not match the SIREN 303265045 (expected FR40303265045)`},
		{"VAT of another SIREN", line(`,"vat_number":"FR40303265045","siren":"404833048"`), `vat_number: "FR40303265045" carries the SIREN 303265045, not the account's SIREN 404833048`},
		{"VAT of another country", line(`,"vat_number":"DE811569869"`), `vat_number: "DE811569869" does not start with FR, the prefix of the account's country FR`},
		{"Greek prefix GR", `{"id":"b1","name":"Beta","email":"b1@example.test","country":"GR","created_at":"2026-05-01T00:00:00Z","vat_number":"GR094259216"}`,
			`vat_number: "GR094259216": Greek VAT numbers start with EL, not GR`},
		{"German syntax", `{"id":"b1","name":"Beta","email":"b1@example.test","country":"DE","created_at":"2026-05-01T00:00:00Z","vat_number":"DE8115698690"}`,
			`vat_number: "DE8115698690" is not a valid DE VAT number (expected DE then 9 digits)`},
		{"language", line(`,"language":"de"`), `language: must be fr or en, got "de"`},
		{"address without city", line(`,"address":{"line1":"12 rue de la Paix","postal_code":"75002"}`), `address.city: required`},
		{"address without line1", line(`,"address":{"postal_code":"75002","city":"Paris"}`), `address.line1: required`},
		{"French postal code", line(`,"address":{"line1":"12 rue de la Paix","postal_code":"7500","city":"Paris"}`), `address.postal_code: "7500" is not a French postal code: 5 digits`},
		{"address country", line(`,"address":{"line1":"1 Main St","postal_code":"10001","city":"New York","country":"USA"}`), `address.country: "USA" is not an ISO 3166-1 alpha-2 code`},
		{"address not an object", line(`,"address":"12 rue de la Paix"`), `address: must be an object`},
		{"unknown address field", line(`,"address":{"line1":"x","postal_code":"75002","city":"Paris","street":"x"}`), `unknown field address.street`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t)
			in := `{"id":"ok","name":"Fine","email":"ok@example.test","country":"FR","created_at":"2026-05-01T00:00:00Z","siren":"303265045"}` + "\n" + tc.in + "\n"
			_, problems, err := runImport(t, tb, accountsImport, "acc.ndjson", in, false)
			require.ErrorIs(t, err, ingest.ErrInvalid)
			require.Len(t, problems, 1, "%v", problems)
			require.Contains(t, problems[0], "acc.ndjson:2: "+tc.want)
			require.Equal(t, 2, tb.count(t, `SELECT count(*) FROM accounts`), "nothing written")
		})
	}

	t.Run("a wrong SIREN is reported once", func(t *testing.T) {
		t.Parallel()
		tb := setup(t)
		_, problems, err := runImport(t, tb, accountsImport, "acc.ndjson", line(`,"siren":"303265046","vat_number":"FR40303265045"`)+"\n", false)
		require.ErrorIs(t, err, ingest.ErrInvalid)
		require.Equal(t, []string{`acc.ndjson:1: siren: "303265046" is not a SIREN: 9 digits, without spaces, whose last is the Luhn check digit`}, problems)
	})

	t.Run("CSV", func(t *testing.T) {
		t.Parallel()
		tb := setup(t)
		in := "id,name,email,country,created_at,vat_number,siren,language,address_line1,address_line2,address_postal_code,address_city,address_country\n" +
			"c1,Cé SAS,c1@example.test,FR,2026-05-01T00:00:00Z,FR40303265045,303265045,fr,12 rue de la Paix,,75002,Paris,\n" +
			"c2,Cé2 SAS,c2@example.test,FR,2026-05-01T00:00:00Z,FR40303265045,404833048,,,,,,\n" +
			"c3,Ce3,c3@example.test,DE,2026-05-01T00:00:00Z,,,en,Hauptstr. 1,,,Berlin,\n"
		_, problems, err := runImport(t, tb, accountsImport, "acc.csv", in, false)
		require.ErrorIs(t, err, ingest.ErrInvalid)
		require.Equal(t, []string{
			"acc.csv:3: vat_number: \"FR40303265045\" carries the SIREN 303265045, not the account's SIREN 404833048",
			"acc.csv:4: address.postal_code: required",
		}, problems)
		require.Equal(t, 2, tb.count(t, `SELECT count(*) FROM accounts`))

		lines := strings.Split(in, "\n")
		res, problems, err := runImport(t, tb, accountsImport, "acc.csv", lines[0]+"\n"+lines[1]+"\n", false)
		require.NoError(t, err, "%v", problems)
		require.Equal(t, 1, res.Inserted)
		require.Equal(t, 1, tb.count(t, `SELECT count(*) FROM accounts WHERE id = 'c1' AND siren = '303265045' AND language = 'fr'
			AND address_line1 = '12 rue de la Paix' AND address_line2 IS NULL AND address_postal_code = '75002'
			AND address_city = 'Paris' AND address_country = 'FR'`))
	})
}

// The language defaults by country, the address's country to the
// account's, and a re-import that changes the legal data of a stored
// account yields one account_updated event naming what changed, before
// and after; one that changes nothing of it yields none.
func TestAccountsLegalDataUpsertAndTimeline(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	var got []billing.Effects
	imp := func(in string) (*ingest.Result, error) {
		return ingest.ImportAccounts(ctx, tb.pool, strings.NewReader(in), ingest.AccountsOptions{
			Options: ingest.Options{Name: "acc.ndjson"}, Now: at,
			Apply: func(_ context.Context, _ pgx.Tx, e billing.Effects) error { got = append(got, e); return nil },
		})
	}
	acme := `{"id":"a1","name":"Acme SAS","email":"a1@example.test","country":"FR","vat_number":"FR40303265045","created_at":"2026-03-04T10:00:00Z","referred_by":"a0"`
	_, err := imp(acme + `,"siren":"303265045","address":{"line1":"12 rue de la Paix","line2":"","postal_code":"75002","city":"Paris"}}` + "\n" +
		`{"id":"d1","name":"Dora GmbH","email":"d1@example.test","country":"DE","vat_number":"DE811569869","created_at":"2026-04-01T00:00:00Z"}` + "\n")
	require.NoError(t, err)
	var lang, addrCountry string
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT language, address_country FROM accounts WHERE id = 'a1'`).Scan(&lang, &addrCountry))
	require.Equal(t, "fr", lang)
	require.Equal(t, "FR", addrCountry)
	require.NoError(t, tb.pool.QueryRow(ctx, `SELECT language FROM accounts WHERE id = 'd1'`).Scan(&lang))
	require.Equal(t, "en", lang)
	require.Equal(t, 1, tb.count(t, `SELECT count(*) FROM accounts WHERE id = 'a1' AND address_line2 IS NULL`), "an empty line2 is no line2")
	require.Len(t, got, 1, "a1 gained a SIREN and an address; d1 is new")
	require.Equal(t, []billing.TimelineEvent{{AccountID: "a1", At: at, Kind: billing.TimelineAccountUpdated, Data: map[string]any{
		"fields": []string{"address", "siren"},
		"changes": map[string]any{
			"address": map[string]any{"before": nil, "after": map[string]any{"line1": "12 rue de la Paix", "line2": "", "postal_code": "75002", "city": "Paris", "country": "FR"}},
			"siren":   map[string]any{"before": nil, "after": "303265045"},
		},
	}}}, got[0].Timeline)

	// Same legal data, another name: no event.
	got = nil
	res, err := imp(`{"id":"a1","name":"Acme SA","email":"a1@example.test","country":"FR","vat_number":"FR40303265045","created_at":"2026-03-04T10:00:00Z","referred_by":"a0","siren":"303265045","address":{"line1":"12 rue de la Paix","postal_code":"75002","city":"Paris","country":"FR"}}` + "\n")
	require.NoError(t, err)
	require.Equal(t, 1, res.Updated)
	require.Empty(t, got)

	// Language and VAT number changed, address dropped.
	res, err = imp(`{"id":"a1","name":"Acme SA","email":"a1@example.test","country":"FR","created_at":"2026-03-04T10:00:00Z","referred_by":"a0","siren":"303265045","language":"en"}` + "\n")
	require.NoError(t, err)
	require.Equal(t, 1, res.Updated)
	require.Len(t, got, 1)
	require.Len(t, got[0].Timeline, 1)
	ev := got[0].Timeline[0]
	require.Equal(t, []string{"address", "language", "vat_number"}, ev.Data["fields"])
	changes := ev.Data["changes"].(map[string]any)
	require.Equal(t, map[string]any{"before": "fr", "after": "en"}, changes["language"])
	require.Equal(t, map[string]any{"before": "FR40303265045", "after": nil}, changes["vat_number"])
	require.Nil(t, changes["address"].(map[string]any)["after"])
	require.Equal(t, 1, tb.count(t, `SELECT count(*) FROM accounts WHERE id = 'a1' AND address_line1 IS NULL AND address_country IS NULL AND vat_number IS NULL`))
}

// The register is asked about new and changed EU numbers only, after the
// local checks; what it does not know, or cannot answer, rejects the line.
func TestAccountsVATRegister(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tb := setup(t)
	checker := &countingChecker{inner: ingest.SandboxVIES{}}
	imp := func(in string) ([]string, error) {
		var problems []string
		_, err := ingest.ImportAccounts(ctx, tb.pool, strings.NewReader(in), ingest.AccountsOptions{
			Options:    ingest.Options{Name: "acc.ndjson", Report: func(p ingest.Problem) { problems = append(problems, p.String("acc.ndjson")) }},
			VATChecker: checker,
		})
		return problems, err
	}
	de := func(id, vat string) string {
		return `{"id":"` + id + `","name":"D","email":"d@example.test","country":"DE","created_at":"2026-04-01T00:00:00Z","vat_number":"` + vat + `"}` + "\n"
	}
	problems, err := imp(de("d1", "DE811569869") + de("d2", "DE123456000") + de("d3", "DE123456999") + de("d4", "DE12345") +
		`{"id":"g1","name":"G","email":"g@example.test","country":"GB","created_at":"2026-04-01T00:00:00Z","vat_number":"GB123456000"}` + "\n")
	require.ErrorIs(t, err, ingest.ErrInvalid)
	require.Equal(t, []string{
		"acc.ndjson:4: vat_number: \"DE12345\" is not a valid DE VAT number (expected DE then 9 digits)",
	}, problems, "the register is not asked about a file rejected already")
	require.Zero(t, checker.calls)

	problems, err = imp(de("d1", "DE811569869") + de("d2", "DE123456000") + de("d3", "DE123456999") +
		`{"id":"g1","name":"G","email":"g@example.test","country":"GB","created_at":"2026-04-01T00:00:00Z","vat_number":"GB123456000"}` + "\n")
	require.ErrorIs(t, err, ingest.ErrInvalid)
	require.Equal(t, []string{
		"acc.ndjson:2: vat_number: DE123456000 is not registered in the VIES (the EU's register of VAT numbers)",
		"acc.ndjson:3: vat_number: DE123456999 could not be checked with the VIES: the VIES sandbox is unavailable (the number ends in 999)",
	}, problems)
	require.Equal(t, 3, checker.calls, "GB numbers are not the VIES's")
	require.Equal(t, 2, tb.count(t, `SELECT count(*) FROM accounts`))

	checker.calls = 0
	problems, err = imp(de("d1", "DE811569869"))
	require.NoError(t, err, "%v", problems)
	require.Equal(t, 1, checker.calls)
	checker.calls = 0
	_, err = imp(de("d1", "DE811569869"))
	require.NoError(t, err)
	require.Zero(t, checker.calls, "a stored number is not asked about again")
}

type countingChecker struct {
	inner ingest.VATChecker
	calls int
}

func (c *countingChecker) Check(ctx context.Context, country, number string) (bool, string, error) {
	c.calls++
	return c.inner.Check(ctx, country, number)
}
