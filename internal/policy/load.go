package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// sections are the top-level names a policy file may use, in the order
// messages list them.
var sections = []string{"keys", "teams", "budget", "aliases", "fallbacks", "pricing", "models", "alerts"}

// budgetSection is the schema of the global `budget` section.
type budgetSection struct {
	MonthlyBudgetUSD *float64  `yaml:"monthly_budget_usd"`
	WeeklyBudgetUSD  *float64  `yaml:"weekly_budget_usd"`
	DailyBudgetUSD   *float64  `yaml:"daily_budget_usd"`
	AlertAt          Fractions `yaml:"alert_at"`
}

// usdPrice is the schema of one `pricing` entry: USD per 1M tokens.
type usdPrice struct {
	Input      *float64 `yaml:"input"`
	Output     *float64 `yaml:"output"`
	CacheRead  *float64 `yaml:"cache_read"`
	CacheWrite *float64 `yaml:"cache_write"`
}

// Load reads and merges every *.yaml and *.yml file in dir (not recursive,
// dot files skipped, symbolic links followed), in name order. A directory with
// no policy files yields an empty Policy. A policy that does not validate is
// a *ValidationError whose problems name the file (as dir/name), line and
// field.
func Load(dir string) (*Policy, error) {
	files, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	return Parse(files)
}

// readDir returns the policy files of dir by path.
func readDir(dir string) (map[string][]byte, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("policy directory %s does not exist", dir)
		}
		return nil, fmt.Errorf("read policy directory: %w", err)
	}
	files := map[string][]byte{}
	for _, e := range entries {
		if !IsPolicyFile(e.Name()) {
			continue
		}
		name := filepath.Join(dir, e.Name())
		b, err := os.ReadFile(name)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || isDir(name) {
				continue // removed since ReadDir, a dangling link, or a directory named *.yaml
			}
			return nil, fmt.Errorf("read policy file: %w", err)
		}
		files[name] = b
	}
	return files, nil
}

func isDir(name string) bool {
	fi, err := os.Stat(name)
	return err == nil && fi.IsDir()
}

// IsPolicyFile reports whether a file or object name (its last path element)
// is one a policy is read from: *.yaml or *.yml, not a dot file.
func IsPolicyFile(name string) bool {
	base := path.Base(filepath.ToSlash(name))
	return !strings.HasPrefix(base, ".") && (strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml"))
}

// Parse validates and merges policy files given by name (a path or URL; the
// name is what messages show). The Policy's Version is a hash of the files'
// base names and contents, so the same files give the same version wherever
// they are read from. Errors are a *ValidationError.
func Parse(files map[string][]byte) (*Policy, error) {
	var d draft
	for _, name := range slices.Sorted(maps.Keys(files)) {
		d.addFile(name, files[name])
	}
	if len(d.probs) > 0 {
		return nil, &ValidationError{Problems: d.probs}
	}
	p, probs := d.build()
	if len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	p.Version = Version(files)
	return p, nil
}

// Version returns the version a Policy parsed from files gets: the first 12
// hex digits of a SHA-256 over the files' base names and contents.
func Version(files map[string][]byte) string {
	byBase := make(map[string][]byte, len(files))
	for name, b := range files {
		byBase[path.Base(filepath.ToSlash(name))] = b
	}
	h := sha256.New()
	for _, name := range slices.Sorted(maps.Keys(byBase)) {
		fmt.Fprintf(h, "%s\x00%d\x00", name, len(byBase[name]))
		h.Write(byBase[name])
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// draft collects the entries of every file before they are checked against
// each other.
type draft struct {
	keys    []*Key
	teams   []*Team
	budget  *budgetEntry
	aliases []aliasEntry
	chains  []fallbackEntry
	prices  []priceEntry
	models  []modelEntry
	alerts  *alertsEntry
	probs   []Problem
}

type budgetEntry struct {
	budgetSection
	src source
}

type aliasEntry struct {
	name, target string
	src          source
}

type priceEntry struct {
	model string
	usd   usdPrice
	src   source
}

// yamlLine is compiled on first use: only a policy file that fails to parse needs it.
var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })

// addFile decodes one file into d. Problems found here (syntax, unknown
// fields, wrong types) stop the load before cross-file checks, which would
// only repeat them.
func (d *draft) addFile(name string, content []byte) {
	dec := yaml.NewDecoder(bytes.NewReader(content))
	var root yaml.Node
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return // empty, or only comments
		}
		pr := Problem{File: name, Message: strings.TrimPrefix(err.Error(), "yaml: ")}
		if m := yamlLine().FindStringSubmatch(err.Error()); m != nil {
			pr.Line, _ = strconv.Atoi(m[1])
			pr.Message = m[2]
		}
		d.probs = append(d.probs, pr)
		return
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		d.probs = append(d.probs, Problem{File: name, Line: extra.Line,
			Message: "a policy file holds one YAML document: split the documents into files"})
		return
	}
	doc := resolve(root.Content[0])
	if doc.Kind == yaml.ScalarNode && doc.Tag == "!!null" {
		return
	}
	if doc.Kind != yaml.MappingNode {
		d.probs = append(d.probs, Problem{File: name, Line: doc.Line,
			Message: "the top level must be a mapping of sections: " + strings.Join(sections, ", ")})
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(doc.Content); i += 2 {
		kn, vn := doc.Content[i], resolve(doc.Content[i+1])
		top := source{file: name, path: kn.Value, line: kn.Line}
		if prev, dup := seen[kn.Value]; dup {
			d.probs = append(d.probs, top.problem("", "section appears twice in this file (first at line %d)", prev))
			continue
		}
		seen[kn.Value] = kn.Line
		if vn.Kind == yaml.ScalarNode && vn.Tag == "!!null" {
			continue // an empty section
		}
		switch kn.Value {
		case "keys":
			d.eachItem(top, vn, func(src source, item *yaml.Node) {
				k := &Key{src: src}
				if d.decodeFields(&k.src, item, k) {
					d.keys = append(d.keys, k)
				}
			})
		case "teams":
			d.eachItem(top, vn, func(src source, item *yaml.Node) {
				t := &Team{src: src}
				if d.decodeFields(&t.src, item, t) {
					d.teams = append(d.teams, t)
				}
			})
		case "budget":
			b := &budgetEntry{src: top}
			if !d.decodeFields(&b.src, vn, &b.budgetSection) {
				continue
			}
			if d.budget != nil {
				d.probs = append(d.probs, top.problem("", "the global budget is already defined %s: define it once", d.budget.src.where()))
				continue
			}
			d.budget = b
		case "aliases":
			d.eachEntry(top, vn, func(name string, src source, v *yaml.Node) {
				if v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
					d.probs = append(d.probs, src.problem("", "must be a Bedrock model id (a string)"))
					return
				}
				d.aliases = append(d.aliases, aliasEntry{name: name, target: v.Value, src: src})
			})
		case "fallbacks":
			d.eachEntry(top, vn, d.addFallback)
		case "pricing":
			d.eachEntry(top, vn, func(name string, src source, v *yaml.Node) {
				e := priceEntry{model: name, src: src}
				if d.decodeFields(&e.src, v, &e.usd) {
					d.prices = append(d.prices, e)
				}
			})
		case "models":
			d.eachEntry(top, vn, func(name string, src source, v *yaml.Node) {
				e := modelEntry{pattern: name, src: src}
				if d.decodeFields(&e.src, v, &e.ModelSettings) {
					d.models = append(d.models, e)
				}
			})
		case "alerts":
			d.decodeAlerts(top, vn)
		default:
			d.probs = append(d.probs, top.problem("", "unknown section: a policy file has %s", strings.Join(sections, ", ")))
		}
	}
}

// eachItem calls f for each item of the list n, named section[i].
func (d *draft) eachItem(section source, n *yaml.Node, f func(source, *yaml.Node)) {
	if n.Kind != yaml.SequenceNode {
		d.probs = append(d.probs, section.problem("", "must be a list (items start with '- ')"))
		return
	}
	for i, item := range n.Content {
		f(source{file: section.file, path: fmt.Sprintf("%s[%d]", section.path, i), line: item.Line}, resolve(item))
	}
}

// eachEntry calls f for each entry of the mapping n, named section[name]
// (model ids hold dots, so a dotted path would be ambiguous).
func (d *draft) eachEntry(section source, n *yaml.Node, f func(string, source, *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		d.probs = append(d.probs, section.problem("", "must be a mapping (name: value entries)"))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn := n.Content[i]
		src := source{file: section.file, path: fmt.Sprintf("%s[%s]", section.path, kn.Value), line: kn.Line}
		if prev, dup := seen[kn.Value]; dup {
			d.probs = append(d.probs, src.problem("", "defined twice in this file (first at line %d)", prev))
			continue
		}
		seen[kn.Value] = kn.Line
		f(kn.Value, src, resolve(n.Content[i+1]))
	}
}

// decodeFields decodes the mapping n into the struct v field by field, by
// yaml tag, recording each field's line in src. It reports whether n had no
// problem.
func (d *draft) decodeFields(src *source, n *yaml.Node, v any) bool {
	if n.Kind != yaml.MappingNode {
		d.probs = append(d.probs, src.problem("", "must be a mapping of fields (name: value)"))
		return false
	}
	fields, names := fieldsOf(v)
	src.lines = map[string]int{}
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], resolve(n.Content[i+1])
		name := kn.Value
		target, known := fields[name]
		if !known {
			d.probs = append(d.probs, Problem{File: src.file, Line: kn.Line, Field: src.path + "." + name,
				Message: "unknown field: the fields are " + strings.Join(names, ", ")})
			ok = false
			continue
		}
		if _, dup := src.lines[name]; dup {
			d.probs = append(d.probs, src.problem(name, "defined twice in this entry"))
			ok = false
			continue
		}
		src.lines[name] = kn.Line
		if vn.Kind == yaml.SequenceNode {
			for j, item := range vn.Content {
				src.lines[fmt.Sprintf("%s[%d]", name, j)] = item.Line
			}
		}
		if _, whole := target.(**int64); whole && vn.ShortTag() != "!!int" {
			// yaml.v3 would truncate 1.5 to 1.
			d.probs = append(d.probs, src.problem(name, "%s", want(target)))
			ok = false
			continue
		}
		if err := vn.Decode(target); err != nil {
			var te *yaml.TypeError
			msg := err.Error()
			if errors.As(err, &te) {
				msg = want(target)
			}
			d.probs = append(d.probs, src.problem(name, "%s", msg))
			ok = false
		}
	}
	return ok
}

// fieldsOf maps the yaml names of the struct *v's fields to pointers to them.
func fieldsOf(v any) (map[string]any, []string) {
	rv := reflect.ValueOf(v).Elem()
	fields := map[string]any{}
	var names []string
	for i := 0; i < rv.NumField(); i++ {
		tag, opts, _ := strings.Cut(rv.Type().Field(i).Tag.Get("yaml"), ",")
		if tag == "" && opts == "inline" && rv.Field(i).Kind() == reflect.Struct {
			inner, innerNames := fieldsOf(rv.Field(i).Addr().Interface())
			maps.Copy(fields, inner)
			names = append(names, innerNames...)
			continue
		}
		if tag == "" || tag == "-" || !rv.Type().Field(i).IsExported() {
			continue
		}
		fields[tag] = rv.Field(i).Addr().Interface()
		names = append(names, tag)
	}
	return fields, names
}

// want says what a field of target's type must hold.
func want(target any) string {
	switch target.(type) {
	case **float64:
		return "must be a number"
	case **bool:
		return "must be true or false"
	case **int64:
		return "must be a whole number"
	case *Fractions:
		return "must be a number or a list of numbers, e.g. 0.8 or [0.5, 0.8]"
	case *[]string:
		return `must be a list of strings, e.g. ["a", "b"]`
	default:
		return "must be a string"
	}
}

// resolve follows a YAML alias (*name) to the node it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}
