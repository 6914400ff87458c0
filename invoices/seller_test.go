package invoices_test

import (
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/billingengine/engine/invoices"
)

// The legal mention joins the legal form, capital and register with the
// SIREN grouped as the RCS writes it; a seller configured before the
// capital and register existed keeps its mention as it was.
func TestSellerMention(t *testing.T) {
	t.Parallel()
	s := invoices.Seller{Legal: "SAS", Capital: decimal.RequireFromString("50000"), RCS: "Paris", SIREN: "303265045"}
	require.Equal(t, "SAS au capital de 50\u00a0000,00\u00a0€ · RCS Paris 303 265 045", s.Mention())
	require.Equal(t, "SAS au capital de 10 000 €", invoices.Seller{Legal: "SAS au capital de 10 000 €", SIREN: "303265045"}.Mention())
	require.Empty(t, invoices.Seller{}.Mention())
}
