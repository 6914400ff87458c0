package invoices

import (
	"fmt"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/text/encoding/charmap"
)

// DefaultFallbackFont is where Debian's fonts-droid-fallback puts a TrueType
// font with CJK glyphs. gofpdf reads .ttf only, so fonts-noto-cjk's .ttc
// collections can't serve.
const DefaultFallbackFont = "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf"

// Fonts are the fonts PDFs are drawn with, loaded once and shared:
//
//   - text that fits Windows-1252 (most names, €, every number) uses the
//     PDF core fonts, which cost nothing to embed;
//   - otherwise the document uses the Go fonts, embedded in the binary,
//     which cover Latin, Greek and Cyrillic;
//   - runs of characters the Go fonts lack (CJK…) use the fallback font
//     file named in config, when there is one;
//   - a character no font has is drawn as '?' and logged as a warning:
//     never a crash, never a silent '.'.
type Fonts struct {
	regular, bold []byte
	goFont        *sfnt.Font
	fallback      []byte
	fbFont        *sfnt.Font
	log           *slog.Logger

	mu      sync.Mutex
	goHas   map[rune]bool
	fbHas   map[rune]bool
	missing map[rune]bool
}

// LoadFonts parses the embedded Go fonts and, if path is not empty, the
// fallback font. A fallback that can't be read is an error: config named it.
func LoadFonts(fallbackPath string, log *slog.Logger) (*Fonts, error) {
	if log == nil {
		log = slog.Default()
	}
	f := &Fonts{regular: goregular.TTF, bold: gobold.TTF, log: log,
		goHas: map[rune]bool{}, fbHas: map[rune]bool{}, missing: map[rune]bool{}}
	var err error
	if f.goFont, err = sfnt.Parse(goregular.TTF); err != nil {
		return nil, fmt.Errorf("parsing the Go font: %w", err)
	}
	if fallbackPath != "" {
		b, err := os.ReadFile(fallbackPath)
		if err != nil {
			return nil, fmt.Errorf("fallback font: %w", err)
		}
		if f.fbFont, err = sfnt.Parse(b); err != nil {
			return nil, fmt.Errorf("fallback font %s: %w (gofpdf needs a .ttf, not a .ttc collection)", fallbackPath, err)
		}
		f.fallback = b
	}
	return f, nil
}

// DefaultFallbackPath returns DefaultFallbackFont when it exists, else "".
func DefaultFallbackPath() string {
	if _, err := os.Stat(DefaultFallbackFont); err == nil {
		return DefaultFallbackFont
	}
	return ""
}

func has(font *sfnt.Font, cache map[rune]bool, r rune) bool {
	if v, ok := cache[r]; ok {
		return v
	}
	var buf sfnt.Buffer
	idx, err := font.GlyphIndex(&buf, r)
	v := err == nil && idx != 0
	cache[r] = v
	return v
}

// fontFor says which font draws r in a Unicode document: "go", "fallback",
// or "" (with a warning) when no font has it: the caller draws a stand-in,
// since gofpdf cannot subset a glyph its font lacks.
func (f *Fonts) fontFor(r rune) string {
	if r < 0x80 {
		return "go"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if has(f.goFont, f.goHas, r) {
		return "go"
	}
	if f.fbFont != nil && has(f.fbFont, f.fbHas, r) {
		return "fallback"
	}
	if !f.missing[r] {
		f.missing[r] = true
		f.log.Warn("no font has this character: it renders as '?'", "char", string(r), "code", fmt.Sprintf("U+%04X", r))
	}
	return ""
}

// fitsCP1252 reports whether s can be drawn with the core fonts.
func fitsCP1252(s string) bool {
	for _, r := range s {
		if r < 0x80 {
			continue
		}
		if _, ok := charmap.Windows1252.EncodeRune(r); !ok {
			return false
		}
	}
	return true
}
