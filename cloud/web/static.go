package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"strings"
	"time"
)

//go:embed static
var assetFiles embed.FS

// staticFiles serves the embedded assets under /static/, each with an
// ETag of its content, so that a browser revalidates them cheaply and
// never keeps one that a new HQ version changed.
type staticFiles struct {
	files map[string]staticFile // by path under static/
}

type staticFile struct {
	data []byte
	etag string
}

func loadStatic() *staticFiles {
	s := &staticFiles{files: map[string]staticFile{}}
	err := fs.WalkDir(assetFiles, "static", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		data, err := assetFiles.ReadFile(path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		s.files[strings.TrimPrefix(path, "static/")] = staticFile{data, `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	if err != nil {
		panic("web: embedded assets: " + err.Error()) // the embed is part of the binary
	}
	return s
}

func (s *staticFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	f, ok := s.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", f.etag)
	w.Header().Set("Cache-Control", "no-cache")
	// ServeContent sets the Content-Type from the extension, answers
	// If-None-Match, and serves ranges and HEAD.
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
}
