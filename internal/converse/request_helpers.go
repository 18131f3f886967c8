// This file holds helpers that both request parsers (chat and embeddings)
// use.

package converse

import (
	"bytes"
	"encoding/json"
	"errors"
)

// maxModelID is the longest model id or ARN Bedrock accepts.
const maxModelID = 2048

// checkModelID refuses a model id no Bedrock model can have, before it
// reaches routing, logs and metrics.
func checkModelID(id string) error {
	if len(id) > maxModelID {
		return invalid(codeInvalidValue, "model", "Invalid 'model': it is %d bytes long, and Bedrock model ids and ARNs have at most %d characters.", len(id), maxModelID)
	}
	return nil
}

// decodeBody decodes a request body into w, explaining a body that is not
// JSON, or not a JSON object, or whose fields have the wrong JSON types, as
// OpenAI does.
func decodeBody(body []byte, w any) error {
	err := json.Unmarshal(body, w)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se) || len(bytes.TrimSpace(body)) == 0:
		return invalid("", "", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The API expects a JSON payload, but what was sent was not valid JSON.)")
	case errors.As(err, &te) && te.Field == "":
		return invalid("", "", "The body of your request must be a JSON object, but got %s instead.", jsonKind(te.Value))
	}
	return typeError(err, "")
}
