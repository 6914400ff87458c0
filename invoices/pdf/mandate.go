package pdf

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/jung-kurt/gofpdf"

	"github.com/billingengine/engine/billing"
)

// MandateDoc is what a SEPA Core mandate's PDF shows (SPEC §14).
type MandateDoc struct {
	Reference  string
	HolderName string
	IBANMasked string
	BIC        string
	AcceptedAt time.Time
	// IP and UserAgent say how it was accepted: online, from there.
	IP, UserAgent string
	Language      billing.Language
}

// The SEPA Core mandate's standard wording (EPC rulebook, annex), in the
// debtor's language.
var mandateText = map[billing.Language]struct {
	title, ref, creditor, creditorID, debtor, iban, bic, date, manner, online, wording, rights, place string
}{
	billing.LanguageFrench: {
		title: "Mandat de prélèvement SEPA Core", ref: "Référence unique du mandat", creditor: "Créancier",
		creditorID: "Identifiant créancier SEPA", debtor: "Débiteur", iban: "IBAN", bic: "BIC",
		date: "Date de signature", place: "Lieu", manner: "Mode d'acceptation",
		online: "accepté en ligne (adresse IP %s, navigateur %s)",
		wording: "En signant ce formulaire de mandat, vous autorisez %s à envoyer des instructions à votre banque pour débiter " +
			"votre compte, et votre banque à débiter votre compte conformément aux instructions de %s.",
		rights: "Vous bénéficiez du droit d'être remboursé par votre banque selon les conditions décrites dans la convention " +
			"que vous avez passée avec elle. Une demande de remboursement doit être présentée dans les 8 semaines suivant la " +
			"date de débit de votre compte pour un prélèvement autorisé. Vos droits concernant le présent mandat sont " +
			"expliqués dans un document que vous pouvez obtenir auprès de votre banque.",
	},
	billing.LanguageEnglish: {
		title: "SEPA Core Direct Debit Mandate", ref: "Unique mandate reference", creditor: "Creditor",
		creditorID: "SEPA creditor identifier", debtor: "Debtor", iban: "IBAN", bic: "BIC",
		date: "Date of signature", place: "Place", manner: "Manner of acceptance",
		online: "accepted online (IP address %s, browser %s)",
		wording: "By signing this mandate form, you authorise (A) %s to send instructions to your bank to debit your account " +
			"and (B) your bank to debit your account in accordance with the instructions from %s.",
		rights: "As part of your rights, you are entitled to a refund from your bank under the terms and conditions of your " +
			"agreement with your bank. A refund must be claimed within 8 weeks starting from the date on which your account " +
			"was debited. Your rights are explained in a statement that you can obtain from your bank.",
	},
}

// RenderMandatePDF draws a mandate with the Go fonts the invoices use.
func RenderMandatePDF(m MandateDoc, seller Seller, fonts *Fonts, loc *time.Location) (out []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("rendering mandate %s: %v", m.Reference, r)
		}
	}()
	if loc == nil {
		loc = time.UTC
	}
	t, ok := mandateText[m.Language]
	if !ok {
		t = mandateText[billing.LanguageEnglish]
	}
	f := gofpdf.New("P", "mm", "A4", "")
	f.SetCreationDate(m.AcceptedAt.UTC())
	f.SetModificationDate(m.AcceptedAt.UTC())
	f.SetCatalogSort(true)
	f.SetMargins(margin, margin, margin)
	f.AddUTF8FontFromBytes("go", "", fonts.regular)
	f.AddUTF8FontFromBytes("go", "B", fonts.bold)
	f.SetTitle(t.title+" "+m.Reference, true)
	f.SetAuthor(seller.Name, true)
	f.SetCreator("billing", true)
	f.AddPage()
	f.SetFont("go", "B", 16)
	f.CellFormat(0, 10, t.title, "", 1, "L", false, 0, "")
	if seller.TestMode {
		f.SetTextColor(200, 0, 0)
		f.CellFormat(0, 7, "TEST MODE", "", 1, "L", false, 0, "")
		f.SetTextColor(0, 0, 0)
	}
	f.Ln(3)
	row := func(label, value string) {
		f.SetFont("go", "B", 10)
		f.CellFormat(60, 6, label, "", 0, "L", false, 0, "")
		f.SetFont("go", "", 10)
		f.MultiCell(0, 6, value, "", "L", false)
	}
	date := m.AcceptedAt.In(loc).Format("2006-01-02 15:04 MST")
	row(t.ref, m.Reference)
	row(t.creditor, seller.Name+"\n"+strings.ReplaceAll(seller.Address, "|", "\n"))
	row(t.creditorID, seller.SEPACreditorID)
	row(t.debtor, m.HolderName)
	row(t.iban, m.IBANMasked)
	if m.BIC != "" {
		row(t.bic, m.BIC)
	}
	row(t.date, date)
	row(t.place, "Internet")
	row(t.manner, fmt.Sprintf(t.online, m.IP, m.UserAgent))
	f.Ln(6)
	f.SetFont("go", "", 10)
	f.MultiCell(0, 5, fmt.Sprintf(t.wording, seller.Name, seller.Name), "", "J", false)
	f.Ln(3)
	f.MultiCell(0, 5, t.rights, "", "J", false)
	var b bytes.Buffer
	if err := f.Output(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
