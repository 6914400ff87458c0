module github.com/jung-kurt/gofpdf

go 1.12

require github.com/klauspost/compress v1.20.1
