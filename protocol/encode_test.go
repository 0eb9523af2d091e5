package protocol

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestEncode(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    *Message
		want string
	}{
		{
			name: "empty basket keeps its lines",
			m:    &Message{V: 1, Type: TypeBasket, ID: "m-1", Txn: "t-1"},
			want: `{"v":1,"type":"basket","id":"m-1","txn":"t-1","lines":[]}`,
		},
		{
			name: "checkout",
			m: &Message{V: 1, Type: TypeCheckout, ID: "m-2", Txn: "t-1", Customer: loyaltyID, Paid: ptr[int64](0),
				Applied: []Applied{{Offer: "a", Discount: 5}}, Lines: []Line{{SKU: "A&B", Qty: 1, Price: 5, Name: "<Café>"}}},
			want: `{"v":1,"type":"checkout","id":"m-2","txn":"t-1","customer":"4900123456789","paid":0,` +
				`"applied":[{"offer":"a","discount":5,"points":0}],"lines":[{"sku":"A&B","qty":1,"price":5,"name":"<Café>"}]}`,
		},
		{
			name: "offers reply, none",
			m:    NewOffersReply("m-1", "t-1", nil, nil),
			want: `{"v":1,"type":"offers","re":"m-1","txn":"t-1","catalog":0,"eval_us":0,"offers":[],"nudges":[]}`,
		},
		{
			name: "offers reply",
			m: func() *Message {
				m := NewOffersReply("m-17", "t1-000123",
					[]Offer{{ID: "coffee-2-pastry", Text: "Free pastry", Discount: 280, Lines: []LineReward{{Line: 1, Qty: 1, Discount: 280}}}},
					[]Nudge{{Offer: "spend-3000-300", Missing: Missing{Spend: 420}}})
				m.Catalog, m.EvalUS = 42, 38
				return m
			}(),
			want: `{"v":1,"type":"offers","re":"m-17","txn":"t1-000123","catalog":42,"eval_us":38,` +
				`"offers":[{"id":"coffee-2-pastry","text":"Free pastry","discount":280,"points":0,"lines":[{"line":1,"qty":1,"discount":280}]}],` +
				`"nudges":[{"offer":"spend-3000-300","missing":{"spend":420}}]}`,
		},
		{
			name: "ack",
			m:    NewAck("m-2", "t-1"),
			want: `{"v":1,"type":"ack","re":"m-2","txn":"t-1"}`,
		},
		{
			name: "error",
			m:    NewError("m-3", CodeBadMessage, "lines[2].qty: must be at least 1, got 0"),
			want: `{"v":1,"type":"error","re":"m-3","code":"bad_message","message":"lines[2].qty: must be at least 1, got 0"}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Encode(tc.m)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tc.want {
				t.Errorf("Encode:\n got %s\nwant %s", b, tc.want)
			}
			back, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(Encode(m)): %v", err)
			}
			again, _ := Encode(back)
			if string(again) != tc.want {
				t.Errorf("Encode(Decode(Encode(m))):\n got %s\nwant %s", again, tc.want)
			}
		})
	}
	if _, err := Encode(nil); err == nil {
		t.Error("Encode(nil): no error")
	}
}

func TestErrorReply(t *testing.T) {
	_, err := Decode([]byte(`{"v":1,"type":"basket","id":"m-9","txn":"t","lines":[{"sku":"A","qty":0,"price":1}]}`))
	for _, tc := range []struct {
		name string
		err  error
		want *Message
	}{
		{"from Decode", err, NewError("m-9", CodeBadMessage, "lines[0].qty: must be at least 1, got 0")},
		{"wrapped", fmt.Errorf("serial t01: %w", err), NewError("m-9", CodeBadMessage, "lines[0].qty: must be at least 1, got 0")},
		{"busy", &Error{Code: CodeBusy, Message: "try again in 1s"}, NewError("", CodeBusy, "try again in 1s")},
		{"other", errors.New("open /var/lib/posoffer/agent.db: permission denied"),
			NewError("", CodeInternal, "internal error in the agent; the message may be sent again")},
	} {
		if got := ErrorReply(tc.err); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: ErrorReply = %#v, want %#v", tc.name, got, tc.want)
		}
	}
	if c := CodeOf(fmt.Errorf("x: %w", err)); c != CodeBadMessage {
		t.Errorf("CodeOf = %q, want %q", c, CodeBadMessage)
	}
	if c := CodeOf(errors.New("x")); c != CodeInternal {
		t.Errorf("CodeOf(plain) = %q, want %q", c, CodeInternal)
	}
}
