package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/billingengine/engine/billing"
)

// VATChecker asks a register whether a VAT number is registered.
// country is the number's prefix (EL for Greece, XI for Northern Ireland)
// and number what follows it. valid false with a nil error means the
// register answered that it does not know the number; an error means it
// could not answer, and the number is not accepted either.
type VATChecker interface {
	Check(ctx context.Context, country, number string) (valid bool, name string, err error)
}

// VIESURL is the VIES REST API of the European Commission.
const VIESURL = "https://ec.europa.eu/taxation_customs/vies/rest-api/check-vat-number"

// VIES is the VATChecker of the European Commission's register (BILLING_VIES=vies).
// It POSTs {"countryCode":"FR","vatNumber":"40303265045"} and reads
// {"valid":true,"name":"…"}. The member states' services answer through it
// and are sometimes down: then Check returns an error and the import is
// rejected, to be run again later. Tests never call it; they use
// SandboxVIES.
type VIES struct {
	// Client defaults to one with a 20 s timeout; URL to VIESURL.
	Client *http.Client
	URL    string
}

var _ VATChecker = (*VIES)(nil)

func (v *VIES) Check(ctx context.Context, country, number string) (bool, string, error) {
	client, url := v.Client, v.URL
	if client == nil {
		client = &http.Client{Timeout: 20 * time.Second}
	}
	if url == "" {
		url = VIESURL
	}
	body, err := json.Marshal(map[string]string{"countryCode": country, "vatNumber": number})
	if err != nil {
		return false, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return false, "", fmt.Errorf("the VIES is unreachable: %w", err)
	}
	defer resp.Body.Close() //nolint:errcheck // the answer is read before; closing cannot change it
	// A refusal reads {"actionSucceed":false,"errorWrappers":[{"error":
	// "MS_UNAVAILABLE"}]}; some answers carry the reason as userError.
	var out struct {
		Valid         bool   `json:"valid"`
		Name          string `json:"name"`
		UserError     string `json:"userError"`
		ActionSucceed *bool  `json:"actionSucceed"`
		ErrorWrappers []struct {
			Error string `json:"error"`
		} `json:"errorWrappers"`
	}
	if resp.StatusCode != http.StatusOK {
		return false, "", fmt.Errorf("the VIES answered %s", resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return false, "", fmt.Errorf("the VIES answered something unreadable: %w", err)
	}
	if (out.ActionSucceed != nil && !*out.ActionSucceed) || len(out.ErrorWrappers) > 0 ||
		(out.UserError != "" && out.UserError != "VALID" && out.UserError != "INVALID") {
		reason := out.UserError
		if len(out.ErrorWrappers) > 0 {
			reason = out.ErrorWrappers[0].Error
		}
		return false, "", fmt.Errorf("the VIES could not answer (%s): try again later", reason)
	}
	if out.Name == "---" {
		out.Name = ""
	}
	return out.Valid, out.Name, nil
}

// SandboxVIES is the VATChecker of tests and demos (BILLING_VIES=sandbox):
// it asks nobody. A number whose digits end in 000 is unregistered, one
// ending in 999 makes the register unavailable, every other is
// registered to "Sandbox company".
type SandboxVIES struct{}

var _ VATChecker = SandboxVIES{}

// ErrSandboxVIESDown is the sandbox register being unavailable.
var ErrSandboxVIESDown = errors.New("the VIES sandbox is unavailable (the number ends in 999)")

func (SandboxVIES) Check(_ context.Context, _, number string) (bool, string, error) {
	switch {
	case strings.HasSuffix(number, "999"):
		return false, "", ErrSandboxVIESDown
	case strings.HasSuffix(number, "000"):
		return false, "", nil
	default:
		return true, "Sandbox company", nil
	}
}

// vatRegisterCheck asks o.VATChecker about every EU VAT number the staged
// accounts add or change; a number already stored on its account was asked
// about when it was imported.
func (o AccountsOptions) vatRegisterCheck(ctx context.Context, tx pgx.Tx, add func(line int, msg string)) error {
	if o.VATChecker == nil {
		return nil
	}
	rows, err := tx.Query(ctx, `
		SELECT s.line, s.vat_number FROM ingest_stage s LEFT JOIN accounts a USING (id)
		WHERE s.vat_number IS NOT NULL AND s.vat_number IS DISTINCT FROM a.vat_number
		ORDER BY s.line`)
	if err != nil {
		return err
	}
	type numbered struct {
		line int
		vat  string
	}
	todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (numbered, error) {
		var n numbered
		return n, r.Scan(&n.line, &n.vat)
	})
	if err != nil {
		return err
	}
	for _, n := range todo {
		if !billing.EUVATPrefix(n.vat[:2]) {
			continue
		}
		valid, _, err := o.VATChecker.Check(ctx, n.vat[:2], n.vat[2:])
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			add(n.line, fmt.Sprintf("vat_number: %s could not be checked with the VIES: %v", n.vat, err))
		case !valid:
			add(n.line, fmt.Sprintf("vat_number: %s is not registered in the VIES (the EU's register of VAT numbers)", n.vat))
		}
	}
	return nil
}
