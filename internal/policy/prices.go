package policy

// listPrice is one row of the shipped table, in USD per 1M tokens.
type listPrice struct {
	input, output, cacheRead, cacheWrite float64
}

// derived marks a cache price the table leaves to the defaults of
// [usdPrice.price] (0.1× and 1.25× input): models that do not cache on
// Bedrock, where the figure is never used.
const derived = -1

// listPrices is the shipped price table: Amazon Bedrock on-demand list prices,
// us-east-1, USD per 1M tokens, as of 2025-11 (the last check against
// https://aws.amazon.com/bedrock/pricing/). Keys are base model ids exactly as
// Bedrock names them; cross-region profile ids are priced through them (see
// [Policy.Price]). A policy's pricing section overrides any row, and adds
// models the table lacks. Embedding models have no output price.
var listPrices = map[string]listPrice{
	// Anthropic. Cache writes are the 5-minute TTL price.
	"anthropic.claude-3-haiku-20240307-v1:0":    {0.25, 1.25, 0.03, 0.30},
	"anthropic.claude-3-5-haiku-20241022-v1:0":  {0.80, 4.00, 0.08, 1.00},
	"anthropic.claude-haiku-4-5-20251001-v1:0":  {1.00, 5.00, 0.10, 1.25},
	"anthropic.claude-3-sonnet-20240229-v1:0":   {3.00, 15.00, derived, derived},
	"anthropic.claude-3-5-sonnet-20240620-v1:0": {3.00, 15.00, derived, derived},
	"anthropic.claude-3-5-sonnet-20241022-v2:0": {3.00, 15.00, 0.30, 3.75},
	"anthropic.claude-3-7-sonnet-20250219-v1:0": {3.00, 15.00, 0.30, 3.75},
	"anthropic.claude-sonnet-4-20250514-v1:0":   {3.00, 15.00, 0.30, 3.75},
	"anthropic.claude-sonnet-4-5-20250929-v1:0": {3.00, 15.00, 0.30, 3.75},
	"anthropic.claude-3-opus-20240229-v1:0":     {15.00, 75.00, derived, derived},
	"anthropic.claude-opus-4-20250514-v1:0":     {15.00, 75.00, 1.50, 18.75},
	"anthropic.claude-opus-4-1-20250805-v1:0":   {15.00, 75.00, 1.50, 18.75},
	"anthropic.claude-opus-4-5-20251101-v1:0":   {5.00, 25.00, 0.50, 6.25},
	"anthropic.claude-opus-4-6-v1":              {5.00, 25.00, 0.50, 6.25}, // Anthropic's list price, as Opus 4.5
	"anthropic.claude-sonnet-4-6":               {3.00, 15.00, 0.30, 3.75}, // as Sonnet 4.5
	// Claude Code 2.1.332's models, at the list prices its model table
	// carries. Haiku 5.5 costs 5× more for a prompt above 100k tokens; the
	// table has one tier, so it holds the higher one, which never undercounts.
	"anthropic.claude-opus-5-5":   {4.00, 20.00, 0.20, 5.00},
	"anthropic.claude-sonnet-5-5": {2.00, 10.00, 0.10, 2.50},
	"anthropic.claude-haiku-5-5":  {0.50, 2.50, 0.05, 0.625}, // above 100k prompt tokens; 0.10, 0.50, 0.01, 0.125 below
	"anthropic.claude-opus-5":     {5.00, 25.00, 0.50, 6.25},
	"anthropic.claude-sonnet-5":   {2.00, 10.00, 0.20, 2.50},
	"anthropic.claude-opus-4-8":   {5.00, 25.00, 0.50, 6.25},
	"anthropic.claude-opus-4-7":   {5.00, 25.00, 0.50, 6.25},
	"anthropic.claude-fable-5":    {10.00, 50.00, 1.00, 12.50},
	"anthropic.claude-fable-5-1":  {10.00, 50.00, 0.25, 12.50},
	"anthropic.claude-fable-5-2":  {8.00, 40.00, 0.20, 10.00},
	"anthropic.claude-v2:1":       {8.00, 24.00, derived, derived},
	"anthropic.claude-v2":         {8.00, 24.00, derived, derived},
	"anthropic.claude-instant-v1": {0.80, 2.40, derived, derived},

	// Amazon. Nova reads cached tokens at 0.25× input and bills cache writes
	// as ordinary input.
	"amazon.nova-micro-v1:0":         {0.035, 0.14, 0.00875, 0.035},
	"amazon.nova-lite-v1:0":          {0.06, 0.24, 0.015, 0.06},
	"amazon.nova-pro-v1:0":           {0.80, 3.20, 0.20, 0.80},
	"amazon.nova-premier-v1:0":       {2.50, 12.50, 0.625, 2.50},
	"amazon.titan-text-lite-v1":      {0.15, 0.20, derived, derived},
	"amazon.titan-text-express-v1":   {0.20, 0.60, derived, derived},
	"amazon.titan-text-premier-v1:0": {0.50, 1.50, derived, derived},
	"amazon.titan-embed-text-v1":     {0.10, 0, derived, derived},
	"amazon.titan-embed-text-v2:0":   {0.02, 0, derived, derived},

	// Meta.
	"meta.llama3-8b-instruct-v1:0":           {0.30, 0.60, derived, derived},
	"meta.llama3-70b-instruct-v1:0":          {2.65, 3.50, derived, derived},
	"meta.llama3-1-8b-instruct-v1:0":         {0.22, 0.22, derived, derived},
	"meta.llama3-1-70b-instruct-v1:0":        {0.72, 0.72, derived, derived},
	"meta.llama3-1-405b-instruct-v1:0":       {2.40, 2.40, derived, derived},
	"meta.llama3-2-1b-instruct-v1:0":         {0.10, 0.10, derived, derived},
	"meta.llama3-2-3b-instruct-v1:0":         {0.15, 0.15, derived, derived},
	"meta.llama3-2-11b-instruct-v1:0":        {0.16, 0.16, derived, derived},
	"meta.llama3-2-90b-instruct-v1:0":        {0.72, 0.72, derived, derived},
	"meta.llama3-3-70b-instruct-v1:0":        {0.72, 0.72, derived, derived},
	"meta.llama4-scout-17b-instruct-v1:0":    {0.17, 0.66, derived, derived},
	"meta.llama4-maverick-17b-instruct-v1:0": {0.24, 0.97, derived, derived},

	// Mistral AI.
	"mistral.mistral-7b-instruct-v0:2":   {0.15, 0.20, derived, derived},
	"mistral.mixtral-8x7b-instruct-v0:1": {0.45, 0.70, derived, derived},
	"mistral.mistral-small-2402-v1:0":    {1.00, 3.00, derived, derived},
	"mistral.mistral-large-2402-v1:0":    {4.00, 12.00, derived, derived},
	"mistral.mistral-large-2407-v1:0":    {2.00, 6.00, derived, derived},

	// OpenAI open-weight models.
	"openai.gpt-oss-20b-1:0":  {0.07, 0.30, derived, derived},
	"openai.gpt-oss-120b-1:0": {0.15, 0.60, derived, derived},

	// Cohere.
	"cohere.command-r-v1:0":        {0.50, 1.50, derived, derived},
	"cohere.command-r-plus-v1:0":   {3.00, 15.00, derived, derived},
	"cohere.embed-english-v3":      {0.10, 0, derived, derived},
	"cohere.embed-multilingual-v3": {0.10, 0, derived, derived},

	// DeepSeek.
	"deepseek.r1-v1:0": {1.35, 5.40, derived, derived},
}
