package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// file is the schema of one policy file. Fields are a contract: see
// docs/policy.md.
type file struct {
	Keys []*Key `yaml:"keys"`
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Load reads and merges every *.yaml and *.yml file in dir (not recursive),
// in name order. A directory with no policy files yields an empty Policy.
// Errors name the file and, where the YAML parser knows it, the line.
func Load(dir string) (*Policy, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("policy directory %s does not exist", dir)
		}
		return nil, fmt.Errorf("read policy directory: %w", err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") ||
			(!strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml")) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("read policy file: %w", err)
		}
		files[name] = b
	}
	return Parse(files)
}

// Parse validates and merges policy files given by name. The Policy's
// Version is a hash of the names and contents.
func Parse(files map[string][]byte) (*Policy, error) {
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)

	h := sha256.New()
	var keys []*Key
	seen := map[string]string{} // key id -> file
	for _, name := range names {
		content := files[name]
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(content))
		h.Write(content)

		var f file
		var root yaml.Node
		if err := decodeStrict(content, &f, &root); err != nil {
			return nil, fmt.Errorf("%s:%s", name, err)
		}
		for i, k := range f.Keys {
			where := fmt.Sprintf("%s:%d: keys[%d]", name, lineOf(&root, "keys", i), i)
			if k == nil {
				return nil, fmt.Errorf("%s: empty entry", where)
			}
			if !idPattern.MatchString(k.ID) {
				return nil, fmt.Errorf("%s.id: %q must be 1-64 letters, digits, '.', '_' or '-'", where, k.ID)
			}
			if prev, dup := seen[k.ID]; dup {
				return nil, fmt.Errorf("%s.id: duplicate key id %q (also in %s)", where, k.ID, prev)
			}
			seen[k.ID] = name
			k.SHA256 = strings.ToLower(strings.TrimSpace(k.SHA256))
			if raw, err := hex.DecodeString(k.SHA256); err != nil || len(raw) != sha256.Size {
				return nil, fmt.Errorf("%s.sha256: key %q needs the 64 hex digits of the secret's SHA-256", where, k.ID)
			}
			for j, m := range k.Models {
				if strings.TrimSpace(m) == "" {
					return nil, fmt.Errorf("%s.models[%d]: empty model pattern", where, j)
				}
			}
			keys = append(keys, k)
		}
	}
	p, err := build(keys, hex.EncodeToString(h.Sum(nil))[:12])
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	return p, nil
}

// decodeStrict decodes content into f, refusing unknown fields, and into
// root for line numbers. Errors read "LINE: what is wrong".
func decodeStrict(content []byte, f *file, root *yaml.Node) error {
	dec := yaml.NewDecoder(bytes.NewReader(content))
	dec.KnownFields(true)
	err := dec.Decode(f)
	if errors.Is(err, io.EOF) {
		return nil // a file of only comments
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			m = strings.TrimPrefix(m, "line ")
			m = strings.Replace(m, "field ", "unknown field ", 1)
			m = strings.Replace(m, " not found in type policy.Key", "", 1)
			m = strings.Replace(m, " not found in type policy.file", "", 1)
			msgs[i] = m
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return yaml.Unmarshal(content, root)
}

// lineOf returns the line of the i-th item of the top-level list named
// field, or 0 when it cannot be found.
func lineOf(root *yaml.Node, field string, i int) int {
	if len(root.Content) == 0 {
		return 0
	}
	m := root.Content[0]
	for j := 0; j+1 < len(m.Content); j += 2 {
		if m.Content[j].Value == field && i < len(m.Content[j+1].Content) {
			return m.Content[j+1].Content[i].Line
		}
	}
	return 0
}
