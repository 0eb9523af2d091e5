package protocol_test

import (
	"errors"
	"fmt"

	"github.com/posoffer/posoffer/protocol"
)

func ExampleDecode() {
	m, err := protocol.Decode([]byte(`{"v":1,"type":"basket","id":"m-17","txn":"t1-000123","customer":"4900123456789",
		"lines":[{"sku":"COF-001","qty":2,"price":350,"category":"coffee"}]}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Type, m.ID, len(m.Lines), m.Lines[0].SKU, m.Lines[0].Qty*m.Lines[0].Price)

	_, err = protocol.Decode([]byte(`{"v":1,"type":"basket","id":"m-18","txn":"t1-000123",
		"lines":[{"sku":"COF-001","qty":2,"price":350},{"sku":"PAS-002","qty":0,"price":280}]}`))
	var e *protocol.Error
	if errors.As(err, &e) {
		fmt.Println(e.Code, e.Re, e.Message)
	}
	// Output:
	// basket m-17 1 COF-001 700
	// bad_message m-18 lines[1].qty: must be at least 1, got 0
}

func ExampleEncode() {
	reply := protocol.NewOffersReply("m-17", "t1-000123",
		[]protocol.Offer{{ID: "coffee-2-pastry", Text: "Free pastry with 2 coffees", Discount: 280,
			Lines: []protocol.LineReward{{Line: 1, Qty: 1, Discount: 280}}}},
		nil)
	reply.Catalog, reply.EvalUS = 42, 38
	b, err := protocol.Encode(reply)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	// Output:
	// {"v":1,"type":"offers","re":"m-17","txn":"t1-000123","catalog":42,"eval_us":38,"offers":[{"id":"coffee-2-pastry","text":"Free pastry with 2 coffees","discount":280,"points":0,"lines":[{"line":1,"qty":1,"discount":280}]}],"nudges":[]}
}

func ExampleErrorReply() {
	_, err := protocol.Decode([]byte(`{"v":1,"type":"checkout","id":"m-19","txn":"t1","lines":[{"sku":"A","qty":1,"price":5}]}`))
	b, _ := protocol.Encode(protocol.ErrorReply(err))
	fmt.Println(string(b))
	// Output:
	// {"v":1,"type":"error","re":"m-19","code":"bad_message","message":"paid: required in a checkout message: the amount paid, in minor units"}
}

func ExampleTopicIn() {
	in, _ := protocol.TopicIn("s001", "t01")
	out, _ := protocol.TopicOut("s001", "t01")
	filter, _ := protocol.TopicInFilter("s001")
	subj, _ := protocol.EventSubject("s001", protocol.EventRedemption)
	key, _ := protocol.OfferKey("coffee-2-pastry")
	fmt.Println(in)
	fmt.Println(out)
	fmt.Println(filter)
	fmt.Println(subj)
	fmt.Println(protocol.CatalogBucket, key)

	_, err := protocol.TopicIn("S001", "t01")
	fmt.Println(err)
	// Output:
	// posoffer/v1/s001/t01/in
	// posoffer/v1/s001/t01/out
	// posoffer/v1/s001/+/in
	// posoffer.v1.events.s001.redemption
	// POSOFFER_CATALOG offer.coffee-2-pastry
	// mqtt in topic: store id "S001": invalid id: want 1 to 32 characters of a-z, 0-9 and -
}

func ExampleParseTopicIn() {
	store, terminal, err := protocol.ParseTopicIn("posoffer/v1/s001/t01/in")
	fmt.Println(store, terminal, err)
	_, _, err = protocol.ParseTopicIn("posoffer/v1/s001/agent/status")
	fmt.Println(err)
	// Output:
	// s001 t01 <nil>
	// mqtt topic "posoffer/v1/s001/agent/status": not a posoffer name: want posoffer/v1/{store}/{terminal}/in
}

func ExampleContainsCardData() {
	basket := []byte(`{"v":1,"type":"basket","lines":[{"sku":"COF-001","qty":2,"price":350}]}`)
	swipe := []byte(`{"v":1,"type":"basket","customer":";4111111111111111=25121010000000000000?"}`)
	fmt.Println(protocol.ContainsCardData(basket), protocol.ContainsCardData(swipe))
	// Output:
	// false true
}
