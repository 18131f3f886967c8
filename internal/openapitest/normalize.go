package openapitest

import (
	"fmt"
	"sort"
)

// normalizeStats counts the rewrites normalize made, so that a test notices
// when a new spec adds or drops an OpenAPI 3.0 construct.
type normalizeStats struct {
	Nullable          int // `nullable: true` rewritten to anyOf [null, schema]
	NotNullable       int // `nullable: false` dropped
	ExclusiveBoolean  int // boolean exclusiveMinimum/exclusiveMaximum rewritten to numbers
	RecursiveRef      int // draft 2019-09 `$recursiveRef: "#"` rewritten to a $ref to its component
	RecursiveAnchor   int // draft 2019-09 `$recursiveAnchor: true` dropped
	DuplicateRequired int // repeated names dropped from `required`
}

// Keywords whose values are schemas, by shape (JSON Schema 2020-12, plus the
// older `definitions` and `additionalItems` in case a schema uses them).
var (
	schemaMapKeywords   = []string{"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"}
	schemaKeywords      = []string{"additionalProperties", "additionalItems", "items", "contains", "propertyNames", "not", "if", "then", "else", "unevaluatedItems", "unevaluatedProperties", "contentSchema"}
	schemaArrayKeywords = []string{"allOf", "anyOf", "oneOf", "prefixItems", "items"}
)

// normalize rewrites, in place, the OpenAPI 3.0 keywords that the spec still
// uses although it declares OpenAPI 3.1, whose schemas are plain JSON Schema
// 2020-12 where these keywords mean something else or nothing (see the
// package documentation). It visits components.schemas only, and only at
// schema positions, so a property that happens to be named "nullable" is left
// alone.
func normalize(doc any) (normalizeStats, error) {
	var st normalizeStats
	root, ok := doc.(map[string]any)
	if !ok {
		return st, fmt.Errorf("spec is not an object")
	}
	comps, _ := root["components"].(map[string]any)
	schemas, ok := comps["schemas"].(map[string]any)
	if !ok {
		return st, fmt.Errorf("spec has no components.schemas")
	}
	for _, name := range sortedKeys(schemas) {
		n := &normalizer{component: "#/components/schemas/" + escapePointer(name), st: &st}
		if err := n.schema(schemas[name], n.component); err != nil {
			return st, err
		}
	}
	return st, nil
}

// normalizer rewrites the schemas of one component.
type normalizer struct {
	component string // JSON pointer fragment of the component, "#/components/schemas/Name"
	st        *normalizeStats
}

func (n *normalizer) schema(v any, loc string) error {
	st := n.st
	s, ok := v.(map[string]any)
	if !ok {
		return nil // boolean schema
	}
	for _, kw := range schemaMapKeywords {
		if m, ok := s[kw].(map[string]any); ok {
			for _, k := range sortedKeys(m) {
				if err := n.schema(m[k], loc+"/"+kw+"/"+escapePointer(k)); err != nil {
					return err
				}
			}
		}
	}
	for _, kw := range schemaKeywords {
		if sub, ok := s[kw].(map[string]any); ok {
			if err := n.schema(sub, loc+"/"+kw); err != nil {
				return err
			}
		}
	}
	for _, kw := range schemaArrayKeywords {
		if arr, ok := s[kw].([]any); ok {
			for i, sub := range arr {
				if err := n.schema(sub, fmt.Sprintf("%s/%s/%d", loc, kw, i)); err != nil {
					return err
				}
			}
		}
	}

	for _, b := range [][2]string{{"exclusiveMinimum", "minimum"}, {"exclusiveMaximum", "maximum"}} {
		excl, bound := b[0], b[1]
		flag, ok := s[excl].(bool)
		if !ok {
			continue
		}
		// OpenAPI 3.0: `minimum: 0, exclusiveMinimum: true` means > 0, which
		// 2020-12 writes `exclusiveMinimum: 0`.
		st.ExclusiveBoolean++
		delete(s, excl)
		if !flag {
			continue
		}
		limit, ok := s[bound]
		if !ok {
			return fmt.Errorf("%s: %s: true without %s", loc, excl, bound)
		}
		delete(s, bound)
		s[excl] = limit
	}

	// Draft 2019-09 recursion: the component marks itself with
	// $recursiveAnchor and refers to itself with $recursiveRef "#". In this
	// document "#" is the whole spec, not the component, and 2020-12 has no
	// such keywords (its metaschema rejects them): refer to the component.
	if a, ok := s["$recursiveAnchor"]; ok {
		if a != true || loc != n.component {
			return fmt.Errorf("%s: unsupported $recursiveAnchor %v", loc, a)
		}
		delete(s, "$recursiveAnchor")
		st.RecursiveAnchor++
	}
	if r, ok := s["$recursiveRef"]; ok {
		if r != "#" {
			return fmt.Errorf("%s: unsupported $recursiveRef %v", loc, r)
		}
		if _, ok := s["$ref"]; ok {
			return fmt.Errorf("%s: both $ref and $recursiveRef", loc)
		}
		delete(s, "$recursiveRef")
		s["$ref"] = n.component
		st.RecursiveRef++
	}

	// `required` with a name twice means the same as once, but breaks the
	// metaschema's uniqueItems.
	if req, ok := s["required"].([]any); ok {
		seen := map[any]bool{}
		uniq := req[:0:0]
		for _, r := range req {
			if seen[r] {
				st.DuplicateRequired++
				continue
			}
			seen[r] = true
			uniq = append(uniq, r)
		}
		s["required"] = uniq
	}

	nv, ok := s["nullable"]
	if !ok {
		return nil
	}
	nullable, ok := nv.(bool)
	if !ok {
		return fmt.Errorf("%s: nullable is %T, not a boolean", loc, nv)
	}
	delete(s, "nullable")
	if !nullable {
		st.NotNullable++
		return nil
	}
	// OpenAPI 3.0: nullable: true lets the value be null in addition to what
	// the rest of the schema allows. Wrapping (rather than adding "null" to
	// type) also covers `$ref` + nullable and enums that do not list null.
	st.Nullable++
	rest := make(map[string]any, len(s))
	for k, v := range s {
		rest[k] = v
		delete(s, k)
	}
	s["anyOf"] = []any{map[string]any{"type": "null"}, rest}
	return nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func escapePointer(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '~':
			out = append(out, '~', '0')
		case '/':
			out = append(out, '~', '1')
		default:
			out = append(out, s[i])
		}
	}
	return string(out)
}
