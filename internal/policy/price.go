package policy

import "math"

// Price is what a model costs, in nano-USD per token (USD per 1M tokens ×
// 1000): integer maths keeps settlement exact.
type Price struct {
	Input, Output, CacheRead, CacheWrite int64
}

// Cost returns what the given token counts cost, in micro-USD, rounded up to
// the micro-dollar: a request with any priced token costs at least 1. Negative
// counts count as 0.
func (pr Price) Cost(input, output, cacheRead, cacheWrite int64) int64 {
	nano := max(input, 0)*pr.Input + max(output, 0)*pr.Output +
		max(cacheRead, 0)*pr.CacheRead + max(cacheWrite, 0)*pr.CacheWrite
	return ceilDiv(nano, 1000)
}

// Price returns what modelID costs. The policy's pricing entries win over
// the shipped table (prices.go). An id with no entry of its own is priced
// through the model it routes to: a cross-region inference profile id
// (us., eu., apac., global., us-gov., jp., au., ca.) or a system inference
// profile ARN through its base model id, a foundation-model ARN through its
// model id. An application inference profile ARN is priced only if the
// policy names it, since the model behind it cannot be told from the ARN
// ([Policy.RouteVia] asks the catalog).
func (p *Policy) Price(modelID string) (Price, bool) {
	return p.priceOf(resolveModel(modelID, nil))
}

// priceOf returns the price of the first of a resolution's ids that has one:
// the id itself, the id its ARN names, then the model a profile routes to.
func (p *Policy) priceOf(r resolution) (Price, bool) {
	for _, id := range r.ids {
		if pr, ok := p.prices[id]; ok {
			return pr, true
		}
	}
	return Price{}, false
}

// price converts a pricing entry (USD per 1M tokens) to nano-USD per token,
// rounding up: a price is never undercounted. A missing cache_read costs 0.1×
// the input price and a missing cache_write 1.25× (Anthropic's ratios on
// Bedrock, the models most used with caching).
func (u usdPrice) price() Price {
	in := usdToPico(*u.Input)
	pr := Price{
		Input:      ceilDiv(in, 1000),
		Output:     ceilDiv(usdToPico(*u.Output), 1000),
		CacheRead:  ceilDiv(in, 10*1000),
		CacheWrite: ceilDiv(in*5, 4*1000),
	}
	if u.CacheRead != nil {
		pr.CacheRead = ceilDiv(usdToPico(*u.CacheRead), 1000)
	}
	if u.CacheWrite != nil {
		pr.CacheWrite = ceilDiv(usdToPico(*u.CacheWrite), 1000)
	}
	return pr
}

// shippedPrices converts the shipped table for a new Policy.
func shippedPrices() map[string]Price {
	prices := make(map[string]Price, len(listPrices))
	for id, lp := range listPrices {
		u := usdPrice{Input: &lp.input, Output: &lp.output}
		if lp.cacheRead != derived {
			u.CacheRead = &lp.cacheRead
		}
		if lp.cacheWrite != derived {
			u.CacheWrite = &lp.cacheWrite
		}
		prices[id] = u.price()
	}
	return prices
}

// usdToPico converts USD per 1M tokens to pico-USD per token, where float
// noise (0.035×1e6 = 35000.000000000004) rounds away.
func usdToPico(usd float64) int64 { return int64(math.Round(usd * 1e6)) }

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
