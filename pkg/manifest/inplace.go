package manifest

import (
	"fmt"
	"os"
	"path/filepath"
)

// WriteInPlace writes every changed file back to its path: each file's text is written to a
// temporary file in the same directory with the original's permissions, and only when every
// one is written are they renamed over the originals (a rename is atomic on one file system).
// A failure before the renames leaves every original as it was. Unchanged files are not
// touched. Standard input cannot be written back.
func (s *Set) WriteInPlace() error {
	type pending struct{ tmp, path string }
	var done []pending
	cleanup := func() {
		for _, p := range done {
			_ = os.Remove(p.tmp)
		}
	}
	for _, f := range s.Files {
		if !f.Changed() {
			continue
		}
		if s.fromStdin {
			cleanup()
			return fmt.Errorf("cannot write standard input back in place; use -o manifest")
		}
		info, err := os.Stat(f.Name)
		if err != nil {
			cleanup()
			return fmt.Errorf("%s: %v", f.Name, err)
		}
		tmp, err := os.CreateTemp(filepath.Dir(f.Name), "."+filepath.Base(f.Name)+".elbfix-*")
		if err != nil {
			cleanup()
			return fmt.Errorf("%s: cannot write next to it: %v", f.Name, err)
		}
		done = append(done, pending{tmp.Name(), f.Name})
		_, werr := tmp.Write(f.Bytes())
		if werr == nil {
			werr = tmp.Chmod(info.Mode().Perm())
		}
		if werr == nil {
			werr = tmp.Sync()
		}
		if cerr := tmp.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			cleanup()
			return fmt.Errorf("%s: writing the fixed file: %v", f.Name, werr)
		}
	}
	for i, p := range done {
		if err := os.Rename(p.tmp, p.path); err != nil {
			for _, q := range done[i:] {
				_ = os.Remove(q.tmp)
			}
			return fmt.Errorf("%s: replacing it with the fixed file: %v", p.path, err)
		}
	}
	return nil
}
