package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
)

func list(n int, item string) string {
	return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
}

// TestCheckItems: the count pass refuses exactly the bodies past a bound,
// naming where, whatever the spacing, key case or escapes; a body that is
// not JSON passes to the decoder.
func TestCheckItems(t *testing.T) {
	chat, emb := itemBounds{limits: parseItemLimits(chatItems)}, itemBounds{limits: parseItemLimits(embeddingItems), compact: true}
	compact := itemBounds{compact: true}
	msg := `{"role":"user","content":"hi"}`
	tests := []struct {
		name   string
		limits itemBounds
		body   string
		param  string // "" with code "": passes
		code   string
		says   string
	}{
		{"small chat", chat, `{"model":"m","messages":[` + msg + `],"stop":["a","b","c","d"]}`, "", "", ""},
		{"5 stop sequences", chat, `{"model":"m","stop":["a","b","c","d","e"],"messages":[]}`, "stop", "array_above_max_length", "maximum length 4, but got an array with length 5"},
		{"stop, spaced, upper case key", chat, "{ \"STOP\" :\n [ \"a\" , \"b\",\"c\",\"d\",\"e\" ] }", "STOP", "array_above_max_length", "length 5"},
		{"stop, escaped key", chat, `{"\u0073top":["a","b","c","d","e"]}`, "stop", "array_above_max_length", "length 5"},
		{"stop, long s", chat, `{"ſtop":["a","b","c","d","e"]}`, "ſtop", "array_above_max_length", "length 5"},
		{"stop nested elsewhere is not stop", chat, `{"metadata":{"stop":["a","b","c","d","e"]}}`, "", "", ""},
		{"strings holding brackets", chat, `{"stop":["]","[","\"]","}{"],"messages":[]}`, "", "", ""},
		{"10,000 messages", chat, `{"messages":` + list(10_000, `{}`) + `}`, "", "", ""},
		{"10,001 messages", chat, `{"messages":` + list(10_001, `{}`) + `}`, "messages", "array_above_max_length", "length 10001"},
		{"129 tool calls", chat, `{"messages":[` + msg + `,{"role":"assistant","tool_calls":` + list(129, `{"id":"x"}`) + `}]}`, "messages[1].tool_calls", "array_above_max_length", "maximum length 128"},
		{"1,001 content parts", chat, `{"messages":[{"role":"user","content":` + list(1001, `{"type":"text","text":"a"}`) + `}]}`, "messages[0].content", "array_above_max_length", "1001"},
		{"129 tools", chat, `{"tools":` + list(129, `{}`) + `}`, "tools", "array_above_max_length", "128"},
		{"129 Responses tools", itemBounds{limits: parseItemLimits(responsesItems)}, `{"input":"hi","tools":` + list(129, `{}`) + `}`, "tools", "array_above_max_length", "128"},
		{"Responses input as a string", itemBounds{limits: parseItemLimits(responsesItems)}, `{"input":"` + strings.Repeat("x", 20_000) + `"}`, "", "", ""},
		{"2,048 inputs", emb, `{"input":` + list(2048, `"a"`) + `}`, "", "", ""},
		{"2,049 inputs", emb, `{"input":` + list(2049, `"a"`) + `}`, "input", "array_above_max_length", "2049"},
		{"300,000 token ids", emb, `{"input":[` + list(100_000, "1") + "," + list(200_000, "2") + `]}`, "", "", ""},
		{"300,001 token ids", emb, `{"input":[` + list(100_000, "1") + "," + list(200_001, "2") + `]}`, "input", "array_above_max_length", "more than 300000 token ids"},
		{"too many values in a bounded array", chat, `{"stop":` + list(200_000, `"a"`) + `}`, "stop", "array_above_max_length", "more than"},
		{"too many values", compact, list(maxBodyValues, "0"), "", "too_many_items", "more than 1048576"},
		{"67,000 tiny values", itemBounds{}, list(67_000, "0"), "", "", ""},
		{"68,000 tiny values", itemBounds{}, list(68_000, "0"), "", "too_many_items", "plus one per 64 bytes"},
		{"100,000 values of 64 bytes", itemBounds{}, list(100_000, `"`+strings.Repeat("x", 62)+`"`), "", "", ""},
		{"deep", itemBounds{}, strings.Repeat("[", maxBodyDepth+1) + strings.Repeat("]", maxBodyDepth+1), "", "too_deeply_nested", "128 levels"},
		{"not JSON", chat, `{"stop":["a","b","c","d","e"`, "", "", ""},
		{"garbage", chat, `}}]]{{[[`, "", "", ""},
		{"empty", chat, ``, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkItems([]byte(tt.body), tt.limits)
			var got [3]string
			if err != nil {
				e := tollgate.AsError(err)
				if e.Kind != tollgate.Invalid || !strings.Contains(e.Message, tt.says) {
					t.Errorf("error %v (kind %v), want it to say %q", e, e.Kind, tt.says)
				}
				got = [3]string{e.Param, e.Code}
			}
			if diff := cmp.Diff([3]string{tt.param, tt.code}, got); diff != "" {
				t.Errorf("param, code (-want +got)\n%s", diff)
			}
			if tt.code == "" && json.Valid([]byte(tt.body)) && allocs(tt.body, tt.limits) > 1 {
				t.Errorf("%v allocations for a body that passes", allocs(tt.body, tt.limits))
			}
		})
	}
}

func allocs(body string, limits itemBounds) float64 {
	b := []byte(body)
	return testing.AllocsPerRun(3, func() { _ = checkItems(b, limits) })
}

// BenchmarkCheckItems: the count pass over a 40 MB embeddings body of 20
// million token ids, refused at the 300,001st, and over a body it passes
// whole (8 MB of 2,048 texts).
func BenchmarkCheckItems(b *testing.B) {
	for _, bm := range []struct {
		name string
		body string
	}{
		{"20M token ids", `{"model":"m","input":[` + list(20_000_000, "1") + `]}`},
		{"2048 texts of 4 KiB", `{"model":"m","input":` + list(2048, `"`+strings.Repeat("word ", 800)+`"`) + `}`},
	} {
		body, limits := []byte(bm.body), itemBounds{limits: parseItemLimits(embeddingItems), compact: true}
		b.Run(bm.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				_ = checkItems(body, limits)
			}
		})
	}
}

// FuzzCheckItems: the count pass never panics, and what it refuses is
// refused with a 400.
func FuzzCheckItems(f *testing.F) {
	for _, s := range []string{`{"stop":["a","b","c","d","e"]}`, `{"messages":[{"tool_calls":[{}]}]}`, `{"input":[[1,2],[3]]}`,
		`{"\u0073top":[1,2,3,4,5]}`, `[[[[`, `"\`, `{"a":`, `{"a" "b"}`, `]]]`, `{,}`} {
		f.Add([]byte(s))
	}
	chat := itemBounds{limits: parseItemLimits(append(chatItems, embeddingItems...))}
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := checkItems(body, chat); err != nil && tollgate.AsError(err).Kind != tollgate.Invalid {
			t.Errorf("%q: %v", body, err)
		}
	})
}
