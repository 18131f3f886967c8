package converse

// ParseChatRequestCareful is ParseChatRequest without its one-pass fast
// path: the path every error comes from.
func ParseChatRequestCareful(body []byte) (*ChatRequest, error) {
	var w wireRequest
	if err := decodeBody(body, &w); err != nil {
		return nil, err
	}
	return parseChat(&w, nil)
}
