package pdf

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	"math"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/klauspost/compress/zlib"
)

// PDF/A-3b (SPEC §13): gofpdf writes the document with every font embedded
// (the Go fonts, and the fallback font when a name needs it), its header's
// binary comment and UTC dates (third_party/gofpdf/PATCHES.md); what
// PDF/A adds beyond that is appended here as an incremental update, which
// PDF/A allows: a new catalog with the XMP metadata (pdfaid part 3,
// conformance B, the Factur-X extension schema), an sRGB OutputIntent and,
// for an e-invoice, the CII XML as the embedded file factur-x.xml with
// AFRelationship Data; and a trailer with the file identifier.

// FacturXFileName is the name the CII XML is embedded under.
const FacturXFileName = "factur-x.xml"

// facturXConformance is the Factur-X profile of the embedded XML.
const facturXConformance = "EN 16931"

// pdfaInfo is what the XMP metadata repeats of the Info dictionary.
type pdfaInfo struct {
	title, author, creator, producer string
	created                          time.Time
	documentType                     string // INVOICE; a credit note is an INVOICE too (type code 381 inside)
}

var (
	startxrefRE = regexp.MustCompile(`startxref\n(\d+)\n%%EOF\n?$`)
	rootRE      = regexp.MustCompile(`/Root (\d+) 0 R`)
	infoRE      = regexp.MustCompile(`/Info (\d+) 0 R`)
	sizeRE      = regexp.MustCompile(`/Size (\d+)`)
)

// toPDFA turns the PDF gofpdf wrote into a PDF/A-3b, embedding xml (when
// not nil) as factur-x.xml. The result depends on its inputs only.
// The spans shared by the input are shared by the output (which begins
// with it), and so is the sRGB profile.
func toPDFA(in File, info pdfaInfo, xml []byte) (File, error) {
	pdf := in.Bytes
	end := pdf[max(0, len(pdf)-64):]
	m := startxrefRE.FindSubmatch(end)
	if m == nil {
		return File{}, errors.New("PDF/A: no startxref at the end of the PDF")
	}
	prev := string(m[1])
	tail := pdf[bytes.LastIndex(pdf, []byte("trailer")):]
	root, infoObj, size := rootRE.FindSubmatch(tail), infoRE.FindSubmatch(tail), sizeRE.FindSubmatch(tail)
	if root == nil || infoObj == nil || size == nil {
		return File{}, errors.New("PDF/A: the trailer lacks /Root, /Info or /Size")
	}
	n, _ := strconv.Atoi(string(size[1]))
	rootN, _ := strconv.Atoi(string(root[1]))

	var b bytes.Buffer
	b.Grow(len(pdf) + len(xml)/3 + len(sRGBProfileDeflated()) + 8<<10) // one allocation: the XMP, the profile, the XML deflated
	b.Write(pdf)
	if pdf[len(pdf)-1] != '\n' {
		b.WriteByte('\n')
	}
	shared := in.Shared
	offsets := map[int]int{}
	obj := func(num int, dict string, stream []byte, share *[32]byte) {
		offsets[num] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s", num, dict)
		if stream != nil {
			b.WriteString("\nstream\n")
			if share != nil {
				shared = append(shared, Span{At: b.Len(), Data: stream, SHA256: *share})
			}
			b.Write(stream)
			b.WriteString("\nendstream")
		}
		b.WriteString("\nendobj\n")
	}
	metaN, iccN, intentN := n, n+1, n+2
	next := n + 3
	xmp := xmpMetadata(info, xml != nil)
	obj(metaN, fmt.Sprintf("<< /Type /Metadata /Subtype /XML /Length %d >>", len(xmp)), xmp, nil)
	icc := sRGBProfileDeflated()
	obj(iccN, fmt.Sprintf("<< /N 3 /Filter /FlateDecode /Length %d >>", len(icc)), icc, &iccSum)
	obj(intentN, fmt.Sprintf("<< /Type /OutputIntent /S /GTS_PDFA1 /OutputConditionIdentifier (sRGB IEC61966-2.1) /Info (sRGB IEC61966-2.1) /DestOutputProfile %d 0 R >>", iccN), nil, nil)
	names, af := "", ""
	if xml != nil {
		fileN, specN := next, next+1
		next += 2
		z := deflate(xml)
		sum := md5.Sum(xml)
		date := pdfDate(info.created)
		obj(fileN, fmt.Sprintf("<< /Type /EmbeddedFile /Subtype /text#2Fxml /Filter /FlateDecode /Length %d /Params << /Size %d /CheckSum <%s> /CreationDate (%s) /ModDate (%s) >> >>",
			len(z), len(xml), hex.EncodeToString(sum[:]), date, date), z, nil)
		obj(specN, fmt.Sprintf("<< /Type /Filespec /F (%s) /UF (%s) /EF << /F %d 0 R /UF %d 0 R >> /Desc (Factur-X invoice) /AFRelationship /Data >>",
			FacturXFileName, FacturXFileName, fileN, fileN), nil, nil)
		names = fmt.Sprintf(" /Names << /EmbeddedFiles << /Names [(%s) %d 0 R] >> >>", FacturXFileName, specN)
		af = fmt.Sprintf(" /AF [%d 0 R]", specN)
	}
	obj(rootN, fmt.Sprintf("<< /Type /Catalog /Pages 1 0 R /Metadata %d 0 R /OutputIntents [%d 0 R]%s%s >>", metaN, intentN, af, names), nil, nil)

	xref := b.Len()
	b.WriteString("xref\n")
	fmt.Fprintf(&b, "%d 1\n%010d 00000 n \n", rootN, offsets[rootN])
	fmt.Fprintf(&b, "%d %d\n", n, next-n)
	for i := n; i < next; i++ {
		fmt.Fprintf(&b, "%010d 00000 n \n", offsets[i])
	}
	// The file identifier: a digest of the original file, so the same
	// document always gets the same one (SHA-256, which this CPU hashes
	// four times faster than MD5, cut to the customary 16 bytes).
	sum := sha256.Sum256(pdf)
	id := sum[:16]
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root %d 0 R /Info %s 0 R /Prev %s /ID [<%x> <%x>] >>\nstartxref\n%d\n%%%%EOF\n",
		next, rootN, infoObj[1], prev, id, id, xref)
	return File{Bytes: b.Bytes(), Shared: shared}, nil
}

// zlibWriters are reused: a compressor's state is a megabyte to allocate
// and clear, more than compressing an invoice's XML costs. A reset writer
// compresses as a new one does, byte for byte. klauspost's deflate at its
// fastest level, as gofpdf's content streams: a tenth of a document's CPU
// went into compressing its XML at the default level, for a few hundred
// bytes.
var zlibWriters = sync.Pool{New: func() any {
	w, _ := zlib.NewWriterLevel(nil, zlib.BestSpeed)
	return w
}}

func deflate(p []byte) []byte {
	var b bytes.Buffer
	w := zlibWriters.Get().(*zlib.Writer)
	w.Reset(&b)
	_, _ = w.Write(p)
	_ = w.Close()
	zlibWriters.Put(w)
	return b.Bytes()
}

func pdfDate(t time.Time) string { return "D:" + t.UTC().Format("20060102150405") + "Z" }

// xmpMetadata is the document's XMP packet: PDF/A-3b identification, the
// Info dictionary's values, and, with an embedded e-invoice, the Factur-X
// properties with their extension schema.
func xmpMetadata(info pdfaInfo, facturX bool) []byte {
	e := html.EscapeString
	date := info.created.UTC().Format("2006-01-02T15:04:05Z")
	var b bytes.Buffer
	b.WriteString("<?xpacket begin=\"\ufeff\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n")
	b.WriteString(`<x:xmpmeta xmlns:x="adobe:ns:meta/">
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">
<pdfaid:part>3</pdfaid:part>
<pdfaid:conformance>B</pdfaid:conformance>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">
<dc:format>application/pdf</dc:format>
`)
	fmt.Fprintf(&b, "<dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">%s</rdf:li></rdf:Alt></dc:title>\n", e(info.title))
	fmt.Fprintf(&b, "<dc:creator><rdf:Seq><rdf:li>%s</rdf:li></rdf:Seq></dc:creator>\n", e(info.author))
	b.WriteString("</rdf:Description>\n")
	fmt.Fprintf(&b, `<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/">
<xmp:CreatorTool>%s</xmp:CreatorTool>
<xmp:CreateDate>%s</xmp:CreateDate>
<xmp:ModifyDate>%s</xmp:ModifyDate>
</rdf:Description>
<rdf:Description rdf:about="" xmlns:pdf="http://ns.adobe.com/pdf/1.3/">
<pdf:Producer>%s</pdf:Producer>
</rdf:Description>
`, e(info.creator), date, date, e(info.producer))
	if facturX {
		fmt.Fprintf(&b, `<rdf:Description rdf:about="" xmlns:fx="urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#">
<fx:DocumentType>%s</fx:DocumentType>
<fx:DocumentFileName>%s</fx:DocumentFileName>
<fx:Version>1.0</fx:Version>
<fx:ConformanceLevel>%s</fx:ConformanceLevel>
</rdf:Description>
`, info.documentType, FacturXFileName, facturXConformance)
		b.WriteString(`<rdf:Description rdf:about="" xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/" xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">
<pdfaExtension:schemas>
<rdf:Bag>
<rdf:li rdf:parseType="Resource">
<pdfaSchema:schema>Factur-X PDFA Extension Schema</pdfaSchema:schema>
<pdfaSchema:namespaceURI>urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#</pdfaSchema:namespaceURI>
<pdfaSchema:prefix>fx</pdfaSchema:prefix>
<pdfaSchema:property>
<rdf:Seq>
`)
		for _, p := range [][2]string{
			{"DocumentFileName", "The name of the embedded XML document"},
			{"DocumentType", "The type of the hybrid document in capital letters, e.g. INVOICE or ORDER"},
			{"Version", "The actual version of the standard applying to the embedded XML document"},
			{"ConformanceLevel", "The conformance level of the embedded XML document"},
		} {
			fmt.Fprintf(&b, `<rdf:li rdf:parseType="Resource">
<pdfaProperty:name>%s</pdfaProperty:name>
<pdfaProperty:valueType>Text</pdfaProperty:valueType>
<pdfaProperty:category>external</pdfaProperty:category>
<pdfaProperty:description>%s</pdfaProperty:description>
</rdf:li>
`, p[0], p[1])
		}
		b.WriteString("</rdf:Seq>\n</pdfaSchema:property>\n</rdf:li>\n</rdf:Bag>\n</pdfaExtension:schemas>\n</rdf:Description>\n")
	}
	b.WriteString("</rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>")
	return b.Bytes()
}

var (
	iccOnce sync.Once
	iccZ    []byte
	iccSum  [32]byte // of iccZ, for the documents' parts
)

// sRGBProfileDeflated is an ICC v2 display profile of sRGB IEC 61966-2.1
// (D50 primaries as the ICC's sRGB profiles state them, the sRGB tone
// curve sampled at 1024 points), built here rather than shipped as a file,
// and deflated as every PDF/A embeds it: compressed once per process at
// the best level, its smooth tone curve shrinks to about a third (a
// kilobyte and a half less per document).
func sRGBProfileDeflated() []byte {
	iccOnce.Do(func() {
		var b bytes.Buffer
		w, _ := zlib.NewWriterLevel(&b, zlib.BestCompression)
		_, _ = w.Write(buildSRGBProfile())
		_ = w.Close()
		iccZ = b.Bytes()
		iccSum = sha256.Sum256(iccZ)
	})
	return iccZ
}

func buildSRGBProfile() []byte {
	be := binary.BigEndian
	s15 := func(v float64) []byte {
		b := make([]byte, 4)
		be.PutUint32(b, uint32(int32(math.Round(v*65536))))
		return b
	}
	xyz := func(x, y, z float64) []byte {
		b := append([]byte("XYZ \x00\x00\x00\x00"), s15(x)...)
		b = append(b, s15(y)...)
		return append(b, s15(z)...)
	}
	desc := func(s string) []byte {
		b := []byte("desc\x00\x00\x00\x00")
		b = be.AppendUint32(b, uint32(len(s)+1))
		b = append(append(b, s...), 0)
		b = append(b, make([]byte, 8)...)  // no Unicode description
		b = append(b, make([]byte, 70)...) // no ScriptCode description
		return b
	}
	text := func(s string) []byte { return append(append([]byte("text\x00\x00\x00\x00"), s...), 0) }
	curve := func() []byte {
		const n = 1024
		b := []byte("curv\x00\x00\x00\x00")
		b = be.AppendUint32(b, n)
		for i := range n {
			v := float64(i) / (n - 1)
			if v <= 0.04045 {
				v /= 12.92
			} else {
				v = math.Pow((v+0.055)/1.055, 2.4)
			}
			b = be.AppendUint16(b, uint16(math.Round(v*65535)))
		}
		return b
	}
	trc := curve()
	tags := []struct {
		sig  string
		data []byte
	}{
		{"desc", desc("sRGB IEC61966-2.1")},
		{"cprt", text("No copyright, use freely")},
		{"wtpt", xyz(0.9642, 1.0, 0.8249)},
		{"rXYZ", xyz(0.4361, 0.2225, 0.0139)},
		{"gXYZ", xyz(0.3851, 0.7169, 0.0971)},
		{"bXYZ", xyz(0.1431, 0.0606, 0.7141)},
		{"rTRC", trc}, {"gTRC", trc}, {"bTRC", trc},
	}
	table := 4 + 12*len(tags)
	offset := 128 + table
	var data, dir []byte
	dir = be.AppendUint32(dir, uint32(len(tags)))
	shared := -1
	for _, t := range tags {
		at := offset + len(data)
		if t.sig == "gTRC" || t.sig == "bTRC" {
			at = shared
		} else {
			if t.sig == "rTRC" {
				shared = at
			}
			data = append(data, t.data...)
			for len(data)%4 != 0 {
				data = append(data, 0)
			}
		}
		dir = append(dir, t.sig...)
		dir = be.AppendUint32(dir, uint32(at))
		dir = be.AppendUint32(dir, uint32(len(t.data)))
	}
	size := 128 + len(dir) + len(data)
	h := make([]byte, 128)
	be.PutUint32(h[0:], uint32(size))
	be.PutUint32(h[8:], 0x02100000) // version 2.1
	copy(h[12:], "mntr")
	copy(h[16:], "RGB ")
	copy(h[20:], "XYZ ")
	// Date: 2026-01-01 00:00:00.
	for i, v := range []uint16{2026, 1, 1, 0, 0, 0} {
		be.PutUint16(h[24+2*i:], v)
	}
	copy(h[36:], "acsp")
	copy(h[68:], s15(0.9642))
	copy(h[72:], s15(1.0))
	copy(h[76:], s15(0.8249))
	out := append(h, dir...)
	return append(out, data...)
}
