package jobs_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/invoices"
)

// randomBook writes accounts (with referrals and VAT situations), a catalog
// whose prices change mid-month and October usage, all drawn from seed.
func randomBook(seed uint64) (catalog, accounts, usage string) {
	r := rand.New(rand.NewPCG(seed, seed))
	catalog = `{"resource":"c1","description":"C1","price_per_hour":"0.0278","effective_from":"2025-01-01T00:00:00Z"}
{"resource":"c1","description":"C1","price_per_hour":"0.0301","effective_from":"2026-10-15T12:00:00Z"}
{"resource":"c2","description":"C2","price_per_hour":"0.0069","effective_from":"2025-01-01T00:00:00Z"}
{"resource":"db","description":"DB","price_per_hour":"0.0417","effective_from":"2025-01-01T00:00:00Z"}
`
	countries := []string{"FR", "FR", "DE", "IT", "PT", "US", "BE"}
	// A VAT number valid for each country that gets one.
	vat := map[string]string{"DE": "DE811569869", "IT": "IT00743110157", "PT": "PT123456789", "BE": "BE0403170701"}
	var acc strings.Builder
	start := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	n := 40
	for i := range n {
		created := start.Add(time.Duration(i) * 12 * 24 * time.Hour) // in order: referrers come first
		country := countries[r.IntN(len(countries))]
		extra := ""
		if country != "FR" && country != "US" && r.IntN(2) == 0 {
			extra += fmt.Sprintf(`,"vat_number":%q`, vat[country])
		}
		if i > 0 && r.IntN(10) < 4 {
			extra += fmt.Sprintf(`,"referred_by":"acc%02d"`, r.IntN(i))
		}
		if r.IntN(4) > 0 {
			extra += `,"payment_method":{"type":"card","id":"pm_card_visa"}`
		}
		fmt.Fprintf(&acc, `{"id":"acc%02d","name":"A%d","email":"a%d@example.test","country":"%s","created_at":"%s"%s}`+"\n",
			i, i, i, country, created.Format(time.RFC3339), extra)
	}
	var use strings.Builder
	seg := 0
	for i := range n {
		for range r.IntN(4) {
			seg++
			s := time.Date(2026, 9, 20, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(50*24)) * time.Hour)
			end := fmt.Sprintf("%q", s.Add(time.Duration(1+r.IntN(40*24*60))*time.Minute).Format(time.RFC3339))
			if r.IntN(8) == 0 {
				end = "null"
			}
			res := []string{"c1", "c2", "db"}[r.IntN(3)]
			fmt.Fprintf(&use, `{"id":"s%d","account_id":"acc%02d","app":"app%d","resource":"%s","quantity":%d,"started_at":"%s","ended_at":%s}`+"\n",
				seg, i, r.IntN(2), res, 1+r.IntN(3), s.Format(time.RFC3339), end)
		}
	}
	return catalog, acc.String(), use.String()
}

// A dry run foretells the run: every invoice, line and total, and every
// referral credit, whatever was billed, voided and taken back before.
func TestDryRunPredictsTheRun(t *testing.T) {
	t.Parallel()
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			t.Parallel()
			tb := setup(t)
			ctx := context.Background()
			catalog, accounts, usage := randomBook(seed)
			tb.load(t, "catalog", catalog)
			tb.load(t, "accounts", accounts)
			tb.load(t, "usage", usage)
			client := tb.startWorker(t)

			// Some accounts are billed first, and some of those invoices
			// voided: their referrers owe rewards back, their periods are
			// open again.
			r := rand.New(rand.NewPCG(seed, 99))
			var first []string
			for i := range 40 {
				if r.IntN(3) == 0 {
					first = append(first, fmt.Sprintf("acc%02d", i))
				}
			}
			tb.run(t, client, "2026-10", first...)
			tb.waitIdle(t)
			list, err := invoices.List(ctx, tb.pool, invoices.ListParams{Period: "2026-10"})
			require.NoError(t, err)
			for i, inv := range list {
				if i%3 == 0 {
					tb.void(t, client, inv.Number, "test")
				}
			}
			tb.waitIdle(t)

			preview, err := invoices.DryRun(ctx, tb.pool, voidCfg, invoices.RunParams{Period: billing.MustPeriod("2026-10")})
			require.NoError(t, err)
			require.NotEmpty(t, preview.Invoices)
			tb.run(t, client, "2026-10")
			tb.waitIdle(t)
			requirePreviewMatches(t, tb, preview, "2026-10")

			// More voids, then November: rewards taken back beyond their
			// referrers' credit are charged on November's invoices.
			list, err = invoices.List(ctx, tb.pool, invoices.ListParams{Period: "2026-10"})
			require.NoError(t, err)
			for i, inv := range list {
				if i%2 == 0 && inv.Status != invoices.StatusVoid {
					tb.void(t, client, inv.Number, "test")
				}
			}
			var nov strings.Builder
			for i := range 40 {
				if r.IntN(2) == 0 {
					fmt.Fprintf(&nov, `{"id":"nov%d","account_id":"acc%02d","app":"web","resource":"c1","quantity":1,"started_at":"2026-11-02T00:00:00Z","ended_at":"2026-11-%02dT00:00:00Z"}`+"\n", i, i, 3+r.IntN(27))
				}
			}
			tb.load(t, "usage", nov.String())
			tb.waitIdle(t)
			preview, err = invoices.DryRun(ctx, tb.pool, voidCfg, invoices.RunParams{Period: billing.MustPeriod("2026-11")})
			require.NoError(t, err)
			kinds := map[billing.LineType]int{}
			for _, inv := range preview.Invoices {
				for _, l := range inv.Lines {
					kinds[l.Type]++
				}
			}
			t.Logf("November: %d invoices, %d credits, lines %v", len(preview.Invoices), len(preview.Credits), kinds)
			tb.run(t, client, "2026-11")
			tb.waitIdle(t)
			requirePreviewMatches(t, tb, preview, "2026-11")
			requireAudit(t, tb)
		})
	}
}
