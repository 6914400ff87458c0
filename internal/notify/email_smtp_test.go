package notify

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jung-kurt/gofpdf"

	"github.com/billingengine/engine/billing"
	"github.com/billingengine/engine/internal/testutil"
)

// Every template in both languages, sent to a real SMTP server (mailpit),
// arrives as built: the stable Message-ID, the subject, TEST MODE, the
// text and HTML parts in the account's language, and the invoice's PDF
// attachment intact and valid.
func TestEveryTemplateThroughSMTP(t *testing.T) {
	t.Parallel()
	mp := testutil.StartMailpit(t, 0)
	var buf bytes.Buffer
	pdf := gofpdf.New("P", "mm", "A4", "")
	pdf.AddPage()
	pdf.SetFont("Helvetica", "", 12)
	pdf.Cell(40, 10, "Invoice")
	if err := pdf.Output(&buf); err != nil {
		t.Fatal(err)
	}
	type sent struct {
		id       string
		rendered *Rendered
		lang     billing.Language
		tpl      billing.EmailTemplate
	}
	var out []Outgoing
	var want []sent
	for _, lang := range []billing.Language{billing.LanguageFrench, billing.LanguageEnglish} {
		for _, tpl := range billing.EmailTemplates() {
			in := sampleInput(tpl, lang)
			in.TestMode = true
			if tpl == billing.EmailInvoiceIssued {
				in.Attachments = []Attachment{{Name: "INV-2026-000001.pdf", ContentType: "application/pdf", Data: buf.Bytes()}}
			}
			id := MessageID("evt_000000000000000a00000000000000"+string(lang), tpl, "mail.example.com")
			m, err := BuildMessage(in, "Billing <billing@mail.example.com>", id, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			r, err := Render(in)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, Outgoing{Msg: m, MessageID: id})
			want = append(want, sent{id: id, rendered: r, lang: lang, tpl: tpl})
		}
	}
	mailer := &SMTPMailer{Host: "127.0.0.1", Port: mp.SMTPPort}
	calls := 0
	mailer.Send(context.Background(), out, func(i int, err error) {
		if i != calls {
			t.Errorf("outcome %d reported as %d", calls, i)
		}
		calls++
		if err != nil {
			t.Errorf("message %d: %v", i, err)
		}
	})
	if calls != len(out) {
		t.Fatalf("%d outcomes for %d messages", calls, len(out))
	}
	got := map[string]testutil.MailpitMessage{}
	for _, m := range mp.Messages(t) {
		got[m.MessageID] = m
	}
	if len(got) != len(want) {
		t.Fatalf("%d messages received, want %d", len(got), len(want))
	}
	for _, w := range want {
		m, ok := got[w.id]
		if !ok {
			t.Fatalf("%s not received", w.id)
		}
		d := mp.Message(t, m.ID)
		if d.Subject != w.rendered.Subject || !strings.HasPrefix(d.Subject, "[TEST MODE] ") {
			t.Errorf("%s %s: subject %q, want %q", w.lang, w.tpl, d.Subject, w.rendered.Subject)
		}
		text := strings.ReplaceAll(d.Text, "\r\n", "\n")
		if strings.TrimSpace(text) != strings.TrimSpace(w.rendered.Text) {
			t.Errorf("%s %s: text\n%s\nwant\n%s", w.lang, w.tpl, text, w.rendered.Text)
		}
		hello := map[billing.Language]string{billing.LanguageFrench: "Bonjour Ada &amp; Co,", billing.LanguageEnglish: "Hello Ada &amp; Co,"}[w.lang]
		if !strings.Contains(d.HTML, hello) || !strings.Contains(d.HTML, "TEST MODE") {
			t.Errorf("%s %s: HTML\n%s", w.lang, w.tpl, d.HTML)
		}
		if w.tpl != billing.EmailInvoiceIssued {
			if len(d.Attachments) != 0 {
				t.Errorf("%s %s: attachments %v", w.lang, w.tpl, d.Attachments)
			}
			continue
		}
		if len(d.Attachments) != 1 || d.Attachments[0].FileName != "INV-2026-000001.pdf" {
			t.Fatalf("%s: attachments %+v", w.lang, d.Attachments)
		}
		b := mp.Part(t, m.ID, d.Attachments[0].PartID)
		if !bytes.Equal(b, buf.Bytes()) || !bytes.HasPrefix(b, []byte("%PDF-")) {
			t.Errorf("%s: the PDF arrived altered (%d bytes, want %d)", w.lang, len(b), buf.Len())
		}
		if _, err := exec.LookPath("pdfinfo"); err == nil {
			f := filepath.Join(t.TempDir(), "a.pdf")
			if err := os.WriteFile(f, b, 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("pdfinfo", f).CombinedOutput(); err != nil {
				t.Errorf("pdfinfo: %v\n%s", err, out)
			}
		}
	}
}
