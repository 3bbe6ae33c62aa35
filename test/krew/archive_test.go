package krew_test

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
)

// namedFile is one regular file of an archive.
type namedFile struct {
	name string
	mode int64
	data []byte
}

func tarGzFiles(b []byte) ([]namedFile, error) {
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	var out []namedFile
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%s: not a regular file (type %c)", hdr.Name, hdr.Typeflag)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		out = append(out, namedFile{hdr.Name, hdr.Mode & 0o7777, data})
	}
}

func zipFiles(b []byte) ([]namedFile, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, err
	}
	var out []namedFile
	for _, f := range zr.File {
		if !f.Mode().IsRegular() {
			return nil, fmt.Errorf("%s: not a regular file (%v)", f.Name, f.Mode())
		}
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, err
		}
		out = append(out, namedFile{f.Name, int64(f.Mode().Perm()), data})
	}
	return out, nil
}
