package converse

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
