package invoices

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/billingengine/engine/billing"
)

// A mandate's PDF carries what the SEPA rulebook asks for, in the
// debtor's language.
func TestRenderMandatePDF(t *testing.T) {
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Skip("pdftotext is not installed (apt-get install poppler-utils)")
	}
	fonts, err := LoadFonts("", nil)
	if err != nil {
		t.Fatal(err)
	}
	seller := Seller{Name: "Nuage SAS", Address: "1 rue de l'Exemple|75001 Paris", SEPACreditorID: "FR72ZZZ123456"}
	m := MandateDoc{Reference: "MDT-0123456789ABCDEF", HolderName: "Zoé Lefèvre", IBANMasked: "FR76 **** **** 0189", BIC: "AGRIFRPPXXX",
		AcceptedAt: time.Date(2026, 11, 3, 14, 5, 0, 0, time.UTC), IP: "203.0.113.7", UserAgent: "Firefox/140"}
	for lang, want := range map[billing.Language][]string{
		billing.LanguageFrench: {"Mandat de prélèvement SEPA Core", "Référence unique du mandat", "Identifiant créancier SEPA",
			"accepté en ligne", "vous autorisez Nuage SAS"},
		billing.LanguageEnglish: {"SEPA Core Direct Debit Mandate", "Unique mandate reference", "SEPA creditor identifier",
			"accepted online", "you authorise (A) Nuage SAS"},
	} {
		m.Language = lang
		b, err := RenderMandatePDF(m, seller, fonts, time.UTC)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("pdftotext", "-", "-")
		cmd.Stdin = bytes.NewReader(b)
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(string(out)), " ")
		for _, w := range append(want, "MDT-0123456789ABCDEF", "FR72ZZZ123456", "Nuage SAS", "Zoé Lefèvre", "FR76 **** **** 0189",
			"AGRIFRPPXXX", "2026-11-03 14:05 UTC", "203.0.113.7", "Firefox/140", "Internet") {
			if !strings.Contains(text, w) {
				t.Errorf("%s mandate lacks %q:\n%s", lang, w, text)
			}
		}
	}
}
