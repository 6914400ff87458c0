package pdf

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/image/font"
	"golang.org/x/image/font/gofont/gobold"
	"golang.org/x/image/font/gofont/goregular"
	"golang.org/x/image/font/sfnt"
	"golang.org/x/image/math/fixed"
)

// The unhinted Go fonts have the same glyphs, outlines and widths, in
// little more than half the bytes.
func TestUnhintedFontsKeepTheirGlyphs(t *testing.T) {
	t.Parallel()
	for _, ttf := range [][]byte{goregular.TTF, gobold.TTF} {
		u, err := unhinted(ttf)
		require.NoError(t, err)
		require.Less(t, len(u), len(ttf)*2/3)
		a, err := sfnt.Parse(ttf)
		require.NoError(t, err)
		b, err := sfnt.Parse(u)
		require.NoError(t, err)
		require.Equal(t, a.NumGlyphs(), b.NumGlyphs())
		var ba, bb sfnt.Buffer
		ppem := fixed.I(1000)
		for _, r := range "AZaz09€ÉŁłīĀÆœΩЖ«»–’ǅ" {
			ia, err := a.GlyphIndex(&ba, r)
			require.NoError(t, err)
			ib, err := b.GlyphIndex(&bb, r)
			require.NoError(t, err)
			require.Equal(t, ia, ib, string(r))
			wa, err := a.GlyphAdvance(&ba, ia, ppem, font.HintingNone)
			require.NoError(t, err)
			wb, err := b.GlyphAdvance(&bb, ib, ppem, font.HintingNone)
			require.NoError(t, err)
			require.Equal(t, wa, wb, string(r))
			sa, err := a.LoadGlyph(&ba, ia, ppem, nil)
			require.NoError(t, err)
			la := len(sa)
			sb, err := b.LoadGlyph(&bb, ib, ppem, nil)
			require.NoError(t, err)
			require.Equal(t, la, len(sb), "the same outline: %s", string(r))
		}
	}
}
