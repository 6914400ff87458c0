// Package benchdata generates a reproducible month of a PaaS for benchmarks
// and load tests: accounts, a catalog with a mid-month price change and
// usage segments, as NDJSON in the formats of SPEC §2. The same seed and
// sizes always give the same bytes.
package benchdata

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"
)

// Params size the data set.
type Params struct {
	Seed     uint64
	Accounts int
	Segments int
	// Period is the month the usage is mostly in (YYYY-MM, UTC).
	Period string
}

// Catalog writes the price catalog: containers and addons from January,
// and a new price for container:M on the 16th of the period.
func Catalog(w io.Writer, p Params) error {
	start, _, err := bounds(p.Period)
	if err != nil {
		return err
	}
	bw := bufio.NewWriter(w)
	for _, r := range resources {
		fmt.Fprintf(bw, `{"resource":%q,"description":%q,"price_per_hour":%q,"effective_from":"2026-01-01T00:00:00Z"}`+"\n", r.id, r.desc, r.price)
	}
	fmt.Fprintf(bw, `{"resource":"container:M","description":"M container (1 GB)","price_per_hour":"0.0300","effective_from":%q}`+"\n",
		start.AddDate(0, 0, 15).Format(time.RFC3339))
	return bw.Flush()
}

var resources = []struct{ id, desc, price string }{
	{"container:XS", "XS container (256 MB)", "0.0069"},
	{"container:S", "S container (512 MB)", "0.0139"},
	{"container:M", "M container (1 GB)", "0.0278"},
	{"container:L", "L container (2 GB)", "0.0556"},
	{"container:XL", "XL container (4 GB)", "0.1111"},
	{"addon:postgresql", "PostgreSQL", "0.0208"},
	{"addon:redis", "Redis", "0.0069"},
	{"addon:mysql", "MySQL", "0.0208"},
}

var countries = []struct {
	code  string
	share float64
	vat   string // a VAT number for half of them, "" for none
}{
	{"FR", 0.40, "FR40303265045"}, {"DE", 0.15, "DE811569869"}, {"BE", 0.05, "BE0403170701"},
	{"IT", 0.05, "IT00743110157"}, {"ES", 0.05, ""}, {"NL", 0.05, ""}, {"US", 0.10, ""},
	{"GB", 0.05, ""}, {"CH", 0.05, ""}, {"JP", 0.05, ""},
}

var methods = []struct {
	share    float64
	typ, ref string
}{
	{0.50, "card", "pm_card_visa"}, {0.05, "card", "pm_card_chargeDeclined"},
	{0.03, "card", "pm_card_chargeDeclinedInsufficientFunds"}, {0.20, "sepa_debit", "pm_sepa_debit_success"},
	{0.02, "sepa_debit", "pm_sepa_debit_fail"}, {0.20, "", ""},
}

// AccountID names account i.
func AccountID(i int) string { return fmt.Sprintf("acc_%07d", i) }

// Accounts writes the accounts: created over the year before the period,
// 10 % referred by an earlier account, a mix of countries and of payment
// methods (a fifth have none).
func Accounts(w io.Writer, p Params) error {
	start, _, err := bounds(p.Period)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(p.Seed, 1))
	bw := bufio.NewWriter(w)
	first := start.AddDate(-1, 0, 0)
	for i := range p.Accounts {
		created := first.Add(time.Duration(i) * (365 * 24 * time.Hour / time.Duration(max(p.Accounts, 1))))
		c := pickCountry(rng.Float64())
		extra := ""
		if c.vat != "" && rng.IntN(2) == 0 {
			extra += fmt.Sprintf(`,"vat_number":%q`, c.vat)
		}
		if i > 0 && rng.IntN(10) == 0 {
			extra += fmt.Sprintf(`,"referred_by":%q`, AccountID(rng.IntN(i)))
		}
		if m := pickMethod(rng.Float64()); m.typ != "" {
			extra += fmt.Sprintf(`,"payment_method":{"type":%q,"id":%q}`, m.typ, m.ref)
		}
		fmt.Fprintf(bw, `{"id":%q,"name":"Account %d","email":"billing%d@example.test","country":%q,"created_at":%q%s}`+"\n",
			AccountID(i), i, i, c.code, created.Format(time.RFC3339), extra)
	}
	return bw.Flush()
}

// Usage writes the segments. Accounts get a Zipf-like share (most are
// small, a few huge); a third of the segments run across a month edge or
// are still running; the rest start and end inside the period.
func Usage(w io.Writer, p Params) error {
	start, end, err := bounds(p.Period)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(p.Seed, 2))
	bw := bufio.NewWriter(w)
	month := end.Sub(start)
	// Weight of account i ∝ 1/(i+1)^0.8, shuffled by a fixed permutation so
	// that the big accounts are spread over the id range.
	weights := make([]float64, p.Accounts)
	var total float64
	for i := range weights {
		weights[i] = 1 / math.Pow(float64(i+1), 0.8)
		total += weights[i]
	}
	perm := rng.Perm(p.Accounts)
	n := 0
	for i := 0; i < p.Accounts && n < p.Segments; i++ {
		k := int(math.Round(weights[i] / total * float64(p.Segments)))
		if k < 1 {
			k = 1
		}
		if i == p.Accounts-1 || n+k > p.Segments {
			k = p.Segments - n
		}
		acc := AccountID(perm[i])
		apps := 1 + min(k/20, 9)
		for j := 0; j < k; j++ {
			res := resources[rng.IntN(len(resources))].id
			s := start.Add(time.Duration(rng.Int64N(int64(month))))
			var e string
			switch r := rng.IntN(100); {
			case r < 15: // started last month, ends this month
				s = start.Add(-time.Duration(rng.Int64N(int64(10 * 24 * time.Hour))))
				e = fmt.Sprintf("%q", s.Add(time.Duration(rng.Int64N(int64(20*24*time.Hour)))+time.Hour).Format(time.RFC3339))
			case r < 25: // still running
				e = "null"
			case r < 33: // runs into next month
				e = fmt.Sprintf("%q", end.Add(time.Duration(rng.Int64N(int64(5*24*time.Hour)))+time.Minute).Format(time.RFC3339))
			default:
				e = fmt.Sprintf("%q", s.Add(time.Duration(1+rng.Int64N(int64(72*time.Hour/time.Second)))*time.Second).Format(time.RFC3339))
			}
			fmt.Fprintf(bw, `{"id":"seg_%09d","account_id":%q,"app":"app-%d","resource":%q,"quantity":%d,"started_at":%q,"ended_at":%s}`+"\n",
				n, acc, rng.IntN(apps), res, 1+rng.IntN(4), s.Format(time.RFC3339), e)
			n++
		}
	}
	return bw.Flush()
}

func pickCountry(x float64) struct {
	code  string
	share float64
	vat   string
} {
	for _, c := range countries {
		if x < c.share {
			return c
		}
		x -= c.share
	}
	return countries[0]
}

func pickMethod(x float64) struct {
	share    float64
	typ, ref string
} {
	for _, m := range methods {
		if x < m.share {
			return m
		}
		x -= m.share
	}
	return methods[len(methods)-1]
}

func bounds(period string) (time.Time, time.Time, error) {
	t, err := time.Parse("2006-01", period)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("period %q: %w", period, err)
	}
	return t, t.AddDate(0, 1, 0), nil
}
