package jobs

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The public args (SPEC §9) are decoded with messages in the inserter's
// terms, JSON field names and the JSON expected, never Go types: an
// inserter reads them in the job's errors (billing jobs list, River UI).

func (a *BillingRunArgs) UnmarshalJSON(b []byte) error {
	type plain BillingRunArgs
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return argsProblem("billing_run", err, map[string]string{
			"period": `a string "YYYY-MM"`, "account_ids": "an array of account ids (strings)",
			"run_id": "an integer", "scheduled": "true or false",
		})
	}
	*a = BillingRunArgs(p)
	return nil
}

func (a *CollectInvoiceArgs) UnmarshalJSON(b []byte) error {
	type plain CollectInvoiceArgs
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return argsProblem("collect_invoice", err, map[string]string{
			"invoice_number": `a string "INV-YYYY-NNNNNN"`, "dunning_slot": "an integer from 1 to 5",
			"now": "an RFC 3339 time",
		})
	}
	*a = CollectInvoiceArgs(p)
	return nil
}

// argsProblem says what is wrong with a job's args.
func argsProblem(kind string, err error, want map[string]string) error {
	var typ *json.UnmarshalTypeError
	var syntax *json.SyntaxError
	var timeErr *time.ParseError
	switch {
	case errors.As(err, &typ) && typ.Field == "":
		return fmt.Errorf("%s args: expected a JSON object, got %s", kind, typ.Value)
	case errors.As(err, &typ):
		if w, ok := want[typ.Field]; ok {
			return fmt.Errorf("%s args: %s: expected %s, got %s", kind, typ.Field, w, typ.Value)
		}
		return fmt.Errorf("%s args: %s: unexpected %s", kind, typ.Field, typ.Value)
	case errors.As(err, &syntax):
		return fmt.Errorf("%s args: not valid JSON (at byte %d)", kind, syntax.Offset)
	case errors.As(err, &timeErr) && want["now"] != "":
		return fmt.Errorf("%s args: now: expected %s, got %q", kind, want["now"], timeErr.Value)
	}
	// Time parsing and the like: their messages name no Go type.
	return fmt.Errorf("%s args: %s", kind, strings.TrimPrefix(err.Error(), "json: "))
}
