package openapitest

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// preloaded are the components.schemas compiled when the spec is first
// loaded: the ones Tollgate's responses must satisfy. Check compiles any
// other schema of the spec on its first use.
var preloaded = []string{
	"CreateChatCompletionResponse",
	"CreateChatCompletionStreamResponse",
	"CreateEmbeddingResponse",
	"ListModelsResponse",
	"Model",
	"ErrorResponse",
}

// spec is the process-wide compiled spec. The spec is read-only data, so one
// shared copy is what every test wants; it is built on first use.
var spec struct {
	once sync.Once
	err  error
	path string
	url  string
	st   normalizeStats

	mu       sync.Mutex // guards compiler and compiled
	compiler *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema
}

func loadOnce() error {
	spec.once.Do(func() {
		spec.err = load()
	})
	return spec.err
}

func load() error {
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("openapitest: %w", err)
	}
	path, err := findSpec(wd)
	if err != nil {
		return err
	}
	doc, err := loadSpec(path)
	if err != nil {
		return err
	}
	st, err := normalize(doc)
	if err != nil {
		return fmt.Errorf("openapitest: %s: %w", path, err)
	}
	u := "file://" + filepathToURLPath(path)
	c, err := newCompiler(u, doc)
	if err != nil {
		return err
	}
	spec.path, spec.url, spec.st, spec.compiler = path, u, st, c
	spec.compiled = map[string]*jsonschema.Schema{}
	for _, name := range preloaded {
		if _, err := compileLocked(name); err != nil {
			return err
		}
	}
	return nil
}

func newCompiler(url string, doc any) (*jsonschema.Compiler, error) {
	c := jsonschema.NewCompiler()
	// OpenAPI 3.1's schema dialect is JSON Schema 2020-12.
	c.DefaultDraft(jsonschema.Draft2020)
	// 2020-12 makes format an annotation unless asked; the spec's formats
	// (uri, date, unixtime, ...) are part of the contract, so assert them.
	c.AssertFormat()
	c.RegisterFormat(&jsonschema.Format{Name: "unixtime", Validate: validateUnixTime})
	c.RegisterFormat(&jsonschema.Format{Name: "int64", Validate: validateInt64})
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("openapitest: %w", err)
	}
	return c, nil
}

// compile returns the compiled components.schemas.<name>.
func compile(name string) (*jsonschema.Schema, error) {
	if err := loadOnce(); err != nil {
		return nil, err
	}
	spec.mu.Lock()
	defer spec.mu.Unlock()
	return compileLocked(name)
}

func compileLocked(name string) (*jsonschema.Schema, error) {
	if s, ok := spec.compiled[name]; ok {
		return s, nil
	}
	if name == "" || strings.ContainsAny(name, "/~#") {
		return nil, fmt.Errorf("openapitest: bad schema name %q", name)
	}
	s, err := spec.compiler.Compile(spec.url + "#/components/schemas/" + name)
	if err != nil {
		return nil, fmt.Errorf("openapitest: compile %s: %w", name, err)
	}
	spec.compiled[name] = s
	return s, nil
}

// Check validates body, one JSON value, against components.schemas.<schema>
// of OpenAI's spec. The error lists every violation with the JSON pointer of
// the offending value in body and the schema keyword that rejected it. Check
// is safe for concurrent use.
func Check(schema string, body []byte) error {
	s, err := compile(schema)
	if err != nil {
		return err
	}
	v, err := decodeJSON(body)
	if err != nil {
		return fmt.Errorf("%s: body is not JSON: %w: %s", schema, err, abbreviate(body))
	}
	return checkValue(schema, s, v)
}

func checkValue(schema string, s *jsonschema.Schema, v any) error {
	err := s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("%s: %w", schema, err)
	}
	return &Error{Schema: schema, Violations: violations(ve)}
}

// Validate is [Check] reporting a violation as a failure of t, which goes on.
func Validate(t testing.TB, schema string, body []byte) {
	t.Helper()
	if err := Check(schema, body); err != nil {
		t.Errorf("%v\nbody: %s", err, abbreviate(body))
	}
}

// Error is the error Check returns when a body breaks its schema.
type Error struct {
	Schema     string
	Violations []Violation
}

// Violation is one reason a value breaks its schema.
type Violation struct {
	// Pointer is the JSON pointer (RFC 6901) of the value within the body;
	// "" is the whole body.
	Pointer string
	// Keyword is the location in the spec of the schema keyword that
	// rejected it, such as
	// "#/components/schemas/CreateChatCompletionStreamResponse/properties/choices/items/required".
	Keyword string
	// Message says what is wrong.
	Message string
	// Alternatives is the depth of anyOf/oneOf branches above this
	// violation: a violation under an alternative only counts if no sibling
	// alternative matched.
	Alternatives int
}

// Error implements [error]: one line per violation, indented under the
// anyOf/oneOf it belongs to.
func (e *Error) Error() string {
	var b strings.Builder
	n := 0
	for _, v := range e.Violations {
		if v.Alternatives == 0 {
			n++
		}
	}
	fmt.Fprintf(&b, "body does not match OpenAI's %s (%d violation(s)):", e.Schema, n)
	for _, v := range e.Violations {
		b.WriteString("\n")
		b.WriteString(strings.Repeat("  ", v.Alternatives+1))
		ptr := v.Pointer
		if ptr == "" {
			ptr = "(root)"
		}
		fmt.Fprintf(&b, "%s: %s [%s]", ptr, v.Message, v.Keyword)
	}
	return b.String()
}

// violations flattens the library's error tree into the failures that say
// what is wrong (its leaves), keeping anyOf/oneOf nodes so that the reader
// sees which alternatives were tried, with each branch's failures indented
// below. Nodes that only say "a $ref failed" are dropped. Violations come
// sorted by pointer, then by keyword location.
func violations(ve *jsonschema.ValidationError) []Violation {
	var out []Violation
	var walk func(e *jsonschema.ValidationError, depth int)
	walk = func(e *jsonschema.ValidationError, depth int) {
		kp := e.ErrorKind.KeywordPath()
		alt := len(kp) > 0 && (kp[len(kp)-1] == "anyOf" || kp[len(kp)-1] == "oneOf")
		if alt || len(e.Causes) == 0 {
			out = append(out, Violation{
				Pointer:      pointer(e.InstanceLocation),
				Keyword:      keywordLocation(e),
				Message:      e.ErrorKind.LocalizedString(printer),
				Alternatives: depth,
			})
		}
		if alt {
			depth++
		}
		// The library visits properties in map order: sort for stable output.
		causes := slices.Clone(e.Causes)
		slices.SortStableFunc(causes, func(a, b *jsonschema.ValidationError) int {
			return cmp.Or(
				cmp.Compare(pointer(a.InstanceLocation), pointer(b.InstanceLocation)),
				cmp.Compare(keywordLocation(a), keywordLocation(b)))
		})
		for _, c := range causes {
			walk(c, depth)
		}
	}
	walk(ve, 0)
	return out
}

// printer renders the library's messages; English is all tests need.
var printer = message.NewPrinter(language.English)

// keywordLocation is where in the spec the failing keyword sits, relative to
// the spec file.
func keywordLocation(e *jsonschema.ValidationError) string {
	loc := e.SchemaURL
	if i := strings.IndexByte(loc, '#'); i >= 0 {
		loc = loc[i:]
	}
	for _, tok := range e.ErrorKind.KeywordPath() {
		loc += "/" + escapePointer(tok)
	}
	return loc
}

func pointer(tokens []string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteString("/")
		b.WriteString(escapePointer(t))
	}
	return b.String()
}

// abbreviate keeps failure messages readable when a body is large.
func abbreviate(b []byte) string {
	const max = 2000
	if len(b) <= max {
		return string(b)
	}
	return fmt.Sprintf("%s... (%d bytes)", b[:max], len(b))
}

// validateUnixTime checks the spec's "unixtime" format: a whole number of
// seconds since 1970. Values of 1e11 and more (year 5138) are rejected:
// they are milliseconds, the usual mistake when porting from Bedrock or JS.
func validateUnixTime(v any) error {
	n, ok := v.(json.Number)
	if !ok {
		return nil // other types are the type keyword's business
	}
	r, ok := new(big.Rat).SetString(n.String())
	if !ok || !r.IsInt() {
		return fmt.Errorf("%s is not a whole number of seconds", n)
	}
	if r.Sign() < 0 {
		return fmt.Errorf("%s is before 1970", n)
	}
	if r.Cmp(big.NewRat(100_000_000_000, 1)) >= 0 {
		return fmt.Errorf("%s is not in seconds (milliseconds?)", n)
	}
	return nil
}

// validateInt64 checks the "int64" format: an integer that fits in 64 bits.
func validateInt64(v any) error {
	n, ok := v.(json.Number)
	if !ok {
		return nil
	}
	r, ok := new(big.Rat).SetString(n.String())
	if !ok || !r.IsInt() {
		return fmt.Errorf("%s is not an integer", n)
	}
	if !r.Num().IsInt64() {
		return fmt.Errorf("%s does not fit in int64", n)
	}
	return nil
}
