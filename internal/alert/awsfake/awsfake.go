// Package awsfake holds small stand-ins for Amazon SNS and Amazon
// EventBridge, for tests: each speaks its service's real wire protocol
// (SNS: the query protocol, a form POST answered in XML; EventBridge: JSON
// 1.1, the operation in X-Amz-Target), so the AWS SDK's own clients talk
// to them, e.g. through AWS_ENDPOINT_URL_SNS and
// AWS_ENDPOINT_URL_EVENTBRIDGE. They record what they receive and check no
// signature.
package awsfake

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Published is one SNS Publish call.
type Published struct {
	TopicARN, Subject, Message string
}

// SNS is a fake SNS endpoint serving Publish.
type SNS struct {
	*httptest.Server
	mu  sync.Mutex
	got []Published
}

// NewSNS starts a fake SNS; the test closes it.
func NewSNS() *SNS {
	f := &SNS{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// Published returns the Publish calls so far.
func (f *SNS) Published() []Published {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Published(nil), f.got...)
}

func (f *SNS) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		snsError(w, http.StatusBadRequest, "InvalidParameter", "want a form POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		snsError(w, http.StatusBadRequest, "InvalidParameter", err.Error())
		return
	}
	if a := r.PostForm.Get("Action"); a != "Publish" || r.PostForm.Get("Version") != "2010-03-31" {
		snsError(w, http.StatusBadRequest, "InvalidAction", fmt.Sprintf("unsupported action %q", a))
		return
	}
	p := Published{TopicARN: r.PostForm.Get("TopicArn"), Subject: r.PostForm.Get("Subject"), Message: r.PostForm.Get("Message")}
	if !strings.HasPrefix(p.TopicARN, "arn:aws:sns:") || p.Message == "" {
		snsError(w, http.StatusBadRequest, "InvalidParameter", "TopicArn and Message are required")
		return
	}
	f.mu.Lock()
	f.got = append(f.got, p)
	n := len(f.got)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, `<PublishResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/">
  <PublishResult><MessageId>00000000-0000-0000-0000-%012d</MessageId></PublishResult>
  <ResponseMetadata><RequestId>req-%d</RequestId></ResponseMetadata>
</PublishResponse>`, n, n)
}

func snsError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "text/xml")
	w.WriteHeader(status)
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(msg))
	fmt.Fprintf(w, `<ErrorResponse xmlns="https://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error><RequestId>err</RequestId></ErrorResponse>`, code, b.String())
}

// Event is one entry of an EventBridge PutEvents call.
type Event struct {
	Source       string `json:"Source"`
	DetailType   string `json:"DetailType"`
	Detail       string `json:"Detail"`
	EventBusName string `json:"EventBusName,omitempty"`
}

// EventBridge is a fake EventBridge endpoint serving PutEvents.
type EventBridge struct {
	*httptest.Server
	mu  sync.Mutex
	got []Event
}

// NewEventBridge starts a fake EventBridge; the test closes it.
func NewEventBridge() *EventBridge {
	f := &EventBridge{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	return f
}

// Events returns the events put so far.
func (f *EventBridge) Events() []Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Event(nil), f.got...)
}

func (f *EventBridge) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		ebError(w, "ValidationException", "want a POST of application/x-amz-json-1.1")
		return
	}
	if t := r.Header.Get("X-Amz-Target"); t != "AWSEvents.PutEvents" {
		ebError(w, "UnknownOperationException", fmt.Sprintf("unsupported operation %q", t))
		return
	}
	var in struct{ Entries []Event }
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &in); err != nil || len(in.Entries) == 0 {
		ebError(w, "ValidationException", "Entries is required")
		return
	}
	type result struct {
		EventID      string `json:"EventId,omitempty"`
		ErrorCode    string `json:"ErrorCode,omitempty"`
		ErrorMessage string `json:"ErrorMessage,omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{}
	f.mu.Lock()
	for _, e := range in.Entries {
		if e.Source == "" || e.DetailType == "" || !json.Valid([]byte(e.Detail)) {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: "MalformedDetail", ErrorMessage: "Detail is not valid JSON"})
			continue
		}
		f.got = append(f.got, e)
		out.Entries = append(out.Entries, result{EventID: fmt.Sprintf("event-%d", len(f.got))})
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func ebError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}
