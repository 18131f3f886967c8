package openapitest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strconv"

	"gopkg.in/yaml.v3"
)

// specPath is where the spec lives relative to the module root.
const specPath = "testdata/openai/openai-openapi.yml"

// findSpec walks up from dir to the directory holding go.mod and returns the
// spec's path there.
func findSpec(dir string) (string, error) {
	for d := dir; ; {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			p := filepath.Join(d, filepath.FromSlash(specPath))
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("openapitest: module root %s has no %s: %w", d, specPath, err)
			}
			return p, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("openapitest: no go.mod in %s or any parent", dir)
		}
		d = parent
	}
}

// loadSpec reads the YAML spec at path and returns it as JSON values
// (map[string]any, []any, string, json.Number, bool, nil), not yet
// normalized. For the 3 MB spec this takes about 0.2 s, so it is not cached.
func loadSpec(path string) (any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("openapitest: %w", err)
	}
	doc, err := yamlToJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("openapitest: %s: %w", path, err)
	}
	return doc, nil
}

// decodeJSON decodes one JSON value keeping numbers exact (json.Number), the
// representation the validator compares.
func decodeJSON(b []byte) (any, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := d.Token(); err == nil {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// yamlToJSON converts a YAML document to JSON values. It walks yaml.Node
// rather than decoding into any because a plain decode turns unquoted keys
// such as `200:` into ints (map[any]any) and numbers into int or float64,
// which would lose the spec's exact numbers (1.0 and 1e-6 must stay what they
// are). Mapping keys become their source text; numbers become json.Number.
func yamlToJSON(raw []byte) (any, error) {
	var n yaml.Node
	if err := yaml.Unmarshal(raw, &n); err != nil {
		return nil, err
	}
	return nodeToJSON(&n)
}

func nodeToJSON(n *yaml.Node) (any, error) {
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) != 1 {
			return nil, fmt.Errorf("line %d: document with %d nodes", n.Line, len(n.Content))
		}
		return nodeToJSON(n.Content[0])
	case yaml.AliasNode:
		return nodeToJSON(n.Alias)
	case yaml.SequenceNode:
		out := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := nodeToJSON(c)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	case yaml.MappingNode:
		out := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			for k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("line %d: mapping key is not a scalar", k.Line)
			}
			if k.ShortTag() == "!!merge" {
				// Merge keys would silently change which members a schema has;
				// the spec does not use them, so refuse rather than guess.
				return nil, fmt.Errorf("line %d: YAML merge key not supported", k.Line)
			}
			if _, dup := out[k.Value]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			val, err := nodeToJSON(v)
			if err != nil {
				return nil, err
			}
			out[k.Value] = val
		}
		return out, nil
	case yaml.ScalarNode:
		return scalarToJSON(n)
	}
	return nil, fmt.Errorf("line %d: unexpected YAML node kind %v", n.Line, n.Kind)
}

func scalarToJSON(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		return b, nil
	case "!!int":
		// YAML ints may be written 0x1F, 0o17 or 1_000: let yaml decode them,
		// then keep the exact integer.
		var i any
		if err := n.Decode(&i); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		switch i := i.(type) {
		case int:
			return json.Number(strconv.FormatInt(int64(i), 10)), nil
		case int64:
			return json.Number(strconv.FormatInt(i, 10)), nil
		case uint64:
			return json.Number(strconv.FormatUint(i, 10)), nil
		}
		return nil, fmt.Errorf("line %d: integer %q out of range", n.Line, n.Value)
	case "!!float":
		if isJSONNumber(n.Value) {
			return json.Number(n.Value), nil
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("line %d: %q has no JSON representation", n.Line, n.Value)
		}
		return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
	default:
		// !!str, and tags a JSON document cannot hold (!!timestamp, !!binary)
		// which OpenAPI means as strings anyway.
		return n.Value, nil
	}
}

// isJSONNumber reports whether s is a JSON number literal as written, so that
// 0.1 stays 0.1 instead of going through float64 (YAML also accepts forms
// such as .5 and 1e3 with a leading +, which JSON does not).
func isJSONNumber(s string) bool {
	return s != "" && (s[0] == '-' || s[0] >= '0' && s[0] <= '9') && json.Valid([]byte(s))
}

// filepathToURLPath turns an absolute file path into the path of a file://
// URL, which is how the compiler names the spec in schema locations.
func filepathToURLPath(p string) string {
	return (&url.URL{Path: filepath.ToSlash(p)}).EscapedPath()
}
