package api

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
)

// This file bounds the items of a request body before it is decoded: one
// pass over the bytes, allocating nothing, counts the values of the whole
// body and the elements of the arrays a route names, and refuses a body
// past a bound with a 400 naming it. Decoding a JSON value into Go costs
// tens of bytes however few bytes it takes in the body ("0," is two), so
// without these bounds a body of small items grows memory 16 to 50 times
// its size before any check on the decoded request can refuse it
// (issue 13). Within them, decoding costs a small multiple of the body
// (docs/reliability.md, "Memory per request").

// Bounds of every JSON body, whatever the route.
const (
	// maxBodyValues bounds the JSON values (objects, arrays, strings,
	// numbers, literals) of a body: 300,000 token ids of an embeddings
	// request fit well under it.
	maxBodyValues = 1 << 20
	// baseValues and bytesPerValue bound the values of a body by its size:
	// at most baseValues, plus one per bytesPerValue bytes of body. A value
	// decoded into free-form Go values (a tool's JSON schema) costs up to
	// about 170 bytes, so that a body of many tiny values ([0,0,...]) would
	// cost 60 times its size without this bound, and costs at most about
	// 2.6 times its size plus 11 MiB with it. Real requests hold a value
	// per 8 to 30 bytes, and rarely 65,536 in all. Routes whose arrays are
	// all bounded and decode compactly (embeddings' token ids) lift it.
	baseValues    = 1 << 16
	bytesPerValue = 64
	// maxBodyDepth bounds how deeply a body nests.
	maxBodyDepth = 128
)

// itemLimit bounds the elements of the arrays found at a path of the body:
// "messages" is the top-level key, "messages[]" each of its elements,
// "messages[].tool_calls" the key of one. Keys match as encoding/json
// matches them, case-insensitively.
type itemLimit struct {
	path string
	max  int
	// total: max bounds the elements of all the arrays at path together
	// (e.g. every token id of every input), not of each.
	total bool
	what  string // what the elements are, for the message: "messages", "token ids"
}

// Item bounds of the OpenAI routes: OpenAI's own where it has one (tools,
// tool calls, stop, inputs, token ids), and, for messages and content
// parts, where it states none, bounds far above any real conversation.
var (
	chatItems = []itemLimit{
		{path: "messages", max: 10_000, what: "messages"},
		{path: "messages[].content", max: 1_000, what: "content parts"},
		{path: "messages[].tool_calls", max: 128, what: "tool calls"},
		{path: "tools", max: 128, what: "tools"},
		{path: "stop", max: 4, what: "stop sequences"},
	}
	responsesItems = []itemLimit{
		{path: "input", max: 10_000, what: "input items"},
		{path: "input[].content", max: 1_000, what: "content parts"},
		{path: "tools", max: 128, what: "tools"},
	}
	embeddingItems = []itemLimit{
		{path: "input", max: 2048, what: "inputs"},
		{path: "input[]", max: 300_000, total: true, what: "token ids across all inputs"},
	}
)

// ctxItems is the gin context key of a route's item bounds.
const ctxItems = "tollgate.items"

// itemBounds are the item bounds of a route.
type itemBounds struct {
	limits []parsedLimit
	// compact: every array the route decodes is bounded by limits and
	// decodes compactly, so values are not bounded by the body's size.
	compact bool
}

// limitItems gives a route's item bounds to readJSONBody, which checks them
// with the bounds of every body.
func limitItems(limits []itemLimit, compact bool) gin.HandlerFunc {
	b := itemBounds{limits: parseItemLimits(limits), compact: compact}
	return func(c *gin.Context) {
		c.Set(ctxItems, b)
		c.Next()
	}
}

// parsedLimit is an itemLimit with its path split into segments ("[]" for
// an array's elements).
type parsedLimit struct {
	itemLimit
	segs [][]byte
}

func parseItemLimits(limits []itemLimit) []parsedLimit {
	out := make([]parsedLimit, len(limits))
	for i, l := range limits {
		out[i].itemLimit = l
		for _, s := range strings.Split(strings.ReplaceAll(l.path, "[]", ".[]"), ".") {
			out[i].segs = append(out[i].segs, []byte(s))
		}
	}
	return out
}

// itemsOf returns the route's item bounds, the zero value when it set
// none.
func itemsOf(c *gin.Context) itemBounds {
	b, _ := c.Get(ctxItems)
	bounds, _ := b.(itemBounds)
	return bounds
}

// frame is one open object or array of the scan.
type frame struct {
	array bool
	key   []byte // in an object: the current key, unescaped
	count int    // in an array: its elements so far
	limit int    // index into the limits of this array's bound, or -1
}

var arrayElems = []byte("[]")

// checkItems scans body once and returns a 400 naming the first bound it
// passes: the values of the body, its depth, or a route's limits. It
// allocates nothing but its stack (one frame per level, at most
// maxBodyDepth) and a key with escapes. A body that is not JSON passes: the
// decoder that follows says what is wrong with it, and checks the whole
// body before it allocates anything.
func checkItems(body []byte, b itemBounds) error {
	limits, maxValues := b.limits, maxBodyValues
	if !b.compact {
		maxValues = min(maxValues, baseValues+len(body)/bytesPerValue)
	}
	var (
		stack  = make([]frame, 0, 16)
		values int
		totals = make([]int, len(limits)) // of the limits with total set
		over   = -1                       // the depth of an array past its bound, told at its end
		i      int
	)
	n := len(body)
	skipSpace := func() {
		for i < n && (body[i] == ' ' || body[i] == '\n' || body[i] == '\r' || body[i] == '\t') {
			i++
		}
	}
	// limitAt finds the bound of an array opened at the current path.
	limitAt := func() int {
		for li := range limits {
			segs := limits[li].segs
			if len(segs) != len(stack)+0 {
				continue
			}
			ok := true
			for d, f := range stack {
				seg := segs[d]
				if f.array {
					ok = bytes.Equal(seg, arrayElems)
				} else {
					ok = !bytes.Equal(seg, arrayElems) && bytes.EqualFold(seg, f.key)
				}
				if !ok {
					break
				}
			}
			if ok {
				return li
			}
		}
		return -1
	}
	for {
		// A value starts here.
		skipSpace()
		if i >= n {
			return nil
		}
		if values++; values > maxValues {
			if over >= 0 { // the array past its bound says more than the count of values
				return arrayTooLong(limits[stack[over].limit].itemLimit, stack[:over+1], false)
			}
			return tooManyValues(len(body), maxValues)
		}
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.array {
				top.count++
				if top.limit >= 0 {
					l := limits[top.limit]
					count := top.count
					if l.total {
						totals[top.limit]++
						if totals[top.limit] > l.max {
							return tooManyInTotal(l.itemLimit)
						}
					} else if count > l.max && over < 0 {
						over = len(stack) - 1
					}
				}
			}
		}
		switch c := body[i]; {
		case c == '{' || c == '[':
			if len(stack) >= maxBodyDepth {
				return tollgate.Errorf(tollgate.Invalid, "too_deeply_nested", "",
					"The request body nests more than %d levels deep; this gateway accepts no more.", maxBodyDepth)
			}
			f := frame{array: c == '[', limit: -1}
			if f.array {
				f.limit = limitAt()
			}
			stack = append(stack, f)
			i++
			skipSpace()
			if i < n && (body[i] == ']' || body[i] == '}') { // empty
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if !f.array {
				if !readKey(body, &i, &stack[len(stack)-1]) {
					return nil
				}
			}
			continue
		case c == '"':
			j := skipString(body, i)
			if j < 0 {
				return nil
			}
			i = j
		default:
			for i < n && !isDelim(body[i]) {
				i++
			}
		}
		// After a value: ',' then the next value (and key), or the end of
		// one or more containers.
		for {
			skipSpace()
			if len(stack) == 0 || i >= n {
				return nil
			}
			switch body[i] {
			case ',':
				i++
				top := &stack[len(stack)-1]
				if !top.array && !readKey(body, &i, top) {
					return nil
				}
			case ']', '}':
				i++
				if len(stack)-1 == over {
					f := stack[over]
					return arrayTooLong(limits[f.limit].itemLimit, stack, true)
				}
				stack = stack[:len(stack)-1]
				continue
			default:
				return nil // not JSON: the decoder says why
			}
			break
		}
	}
}

// readKey reads `"key":` at body[*i] into f.key.
func readKey(body []byte, i *int, f *frame) bool {
	n := len(body)
	for *i < n && (body[*i] == ' ' || body[*i] == '\n' || body[*i] == '\r' || body[*i] == '\t') {
		*i++
	}
	if *i >= n || body[*i] != '"' {
		return false
	}
	j := skipString(body, *i)
	if j < 0 {
		return false
	}
	f.key = body[*i+1 : j-1]
	if bytes.IndexByte(f.key, '\\') >= 0 {
		// A key with escapes ("\u006dessages") is read as the decoder
		// reads it; rare, so this allocates.
		s, err := strconv.Unquote(string(body[*i:j]))
		if err != nil || !utf8.ValidString(s) {
			return false
		}
		f.key = []byte(s)
	}
	*i = j
	for *i < n && body[*i] != ':' {
		*i++
	}
	*i++
	return *i <= n
}

// skipString returns the index just past the string starting at body[i],
// or -1 if it does not end.
func skipString(body []byte, i int) int {
	for j := i + 1; j < len(body); j++ {
		switch body[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

func isDelim(c byte) bool {
	switch c {
	case ',', ']', '}', ' ', '\n', '\r', '\t':
		return true
	}
	return false
}

// arrayTooLong is OpenAI's 400 for an array past its bound (the top of
// stack), naming where it is ("messages[2].tool_calls"); ended tells
// whether the array was counted to its end.
func arrayTooLong(l itemLimit, stack []frame, ended bool) error {
	var param strings.Builder
	for d, f := range stack {
		switch {
		case f.array && d < len(stack)-1:
			fmt.Fprintf(&param, "[%d]", f.count-1)
		case !f.array:
			if param.Len() > 0 {
				param.WriteByte('.')
			}
			param.Write(f.key)
		}
	}
	p, got := param.String(), fmt.Sprintf("length %d", stack[len(stack)-1].count)
	if !ended {
		got = fmt.Sprintf("more than %d elements", stack[len(stack)-1].count)
	}
	return tollgate.Errorf(tollgate.Invalid, "array_above_max_length", p,
		"Invalid '%s': array too long. Expected an array with maximum length %d, but got an array with %s instead. Send at most %d %s.",
		p, l.max, got, l.max, l.what)
}

// tooManyValues is the 400 for a body of more than maxValues values.
func tooManyValues(size, maxValues int) error {
	if maxValues == maxBodyValues {
		return tollgate.Errorf(tollgate.Invalid, "too_many_items", "",
			"The request body holds more than %d JSON values; this gateway accepts no more. Send fewer items.", maxBodyValues)
	}
	return tollgate.Errorf(tollgate.Invalid, "too_many_items", "",
		"The request body holds more than %d JSON values in %d bytes; this gateway accepts at most %d values, plus one per %d bytes of body. Send fewer, larger items (a long list of tiny values in a schema, for instance).",
		maxValues, size, baseValues, bytesPerValue)
}

// tooManyInTotal is the 400 for arrays past their bound together.
func tooManyInTotal(l itemLimit) error {
	p, _, _ := strings.Cut(l.path, "[]")
	return tollgate.Errorf(tollgate.Invalid, "array_above_max_length", p,
		"Invalid '%s': more than %d %s. Send at most %d in one request.", p, l.max, l.what, l.max)
}
