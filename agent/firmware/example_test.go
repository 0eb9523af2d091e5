package firmware_test

import (
	"fmt"
	"strings"

	"golang.org/x/text/encoding/japanese"

	"github.com/posoffer/posoffer/agent/firmware"
	"github.com/posoffer/posoffer/protocol"
	"github.com/posoffer/posoffer/protocol/frame"
)

// The agent's side of a serial terminal: frames from the line, translated
// to v1 and checked, and the reply translated and framed.
func Example() {
	m, err := firmware.Load("../../firmware-configs", "kite-sc20")
	if err != nil {
		panic(err)
	}
	dec, err := frame.NewDecoder(m.Frame)
	if err != nil {
		panic(err)
	}
	line := `{"t":"B","no":"s-88","tx":"k2-000311","items":[{"code":"4901777018686","n":3,"px":120,"desc":"お茶"}]}` + "\r\n"
	dec.Feed([]byte(line), func(ev frame.Event) {
		if ev.Kind != frame.EventFrame || protocol.ContainsCardData(ev.Payload) {
			return
		}
		v1, err := m.DecodeRequest(ev.Payload)
		if err != nil {
			fmt.Println(err)
			return
		}
		msg, err := protocol.Decode(v1)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s %s: %d line(s), %s\n", msg.Type, msg.ID, len(msg.Lines), msg.Lines[0].Name)

		reply := protocol.NewOffersReply(msg.ID, msg.Txn, []protocol.Offer{
			{ID: "tea-b2g1", Text: "お茶 3本で2本分", Discount: 120, Lines: []protocol.LineReward{{Line: 0, Qty: 1, Discount: 120}}},
		}, nil)
		reply.Catalog, reply.EvalUS = 42, 31
		payload, err := m.EncodeReply(reply)
		if err != nil {
			panic(err)
		}
		wire, err := frame.Encode(m.Frame, payload)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s", wire)
	})
	// Output:
	// basket s-88: 1 line(s), お茶
	// {"v":1,"t":"O","re":"s-88","tx":"k2-000311","catalog":42,"eval_us":31,"offers":[{"oid":"tea-b2g1","msg":"お茶 3本で2本分","off":120,"pts":0,"lines":[{"line":0,"qty":1,"discount":120}]}],"nudges":[]}
}

// A reply to a legacy register that reads key=value fields in Shift_JIS,
// shown converted to UTF-8 with its FS separators as "|". The yen sign,
// which Shift_JIS does not have, is sent as the full-width ￥.
func ExampleModel_EncodeReply() {
	m, err := firmware.Load("../../firmware-configs", "hikari-kv300")
	if err != nil {
		panic(err)
	}
	reply := protocol.NewOffersReply("000123", "0042-0817", []protocol.Offer{
		{ID: "onigiri-3-for-300", Name: "Any 3 onigiri", Text: "おにぎり3個で¥300", Discount: 150, Why: "3 of category onigiri"},
	}, []protocol.Nudge{
		{Offer: "spend-3000-300", Text: "あと¥502で¥300引き", Missing: protocol.Missing{Spend: 502}},
	})
	reply.Catalog = 42
	payload, err := m.EncodeReply(reply)
	if err != nil {
		panic(err)
	}
	text, err := japanese.ShiftJIS.NewDecoder().Bytes(payload)
	if err != nil {
		panic(err)
	}
	fmt.Println(strings.ReplaceAll(string(text), "\x1c", "|"))
	// Output:
	// v=1|TYP=OFR|RE=000123|TRNO=0042-0817|REV=42|O1.OID=onigiri-3-for-300|O1.TXT=おにぎり3個で￥300|O1.DSC=150|O1.PTS=0|N1.OID=spend-3000-300|N1.TXT=あと￥502で￥300引き|N1.AMT=502
}

// A register's key=value basket, in Shift_JIS (鮭 is 0x8d 0xf8), as the
// v1 JSON the agent checks with protocol.Decode.
func ExampleModel_DecodeRequest() {
	m, err := firmware.Load("../../firmware-configs", "hikari-kv300")
	if err != nil {
		panic(err)
	}
	payload := []byte("TYP=BSK\x1cMSGNO=000123\x1cTRNO=0042-0817\x1cCPN=SPRING10\x1c" +
		"L1.JAN=4901234567894\x1cL1.QTY=2\x1cL1.PRC=150\x1cL1.NM=\x8d\xf8")
	v1, err := m.DecodeRequest(payload)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(v1))

	_, err = m.DecodeRequest([]byte("TYP=BSK\x1cL1.QTY=2.5"))
	fmt.Println(err)
	// Output:
	// {"v":1,"type":"basket","id":"000123","txn":"0042-0817","coupons":["SPRING10"],"lines":[{"sku":"4901234567894","qty":2,"price":150,"name":"鮭"}]}
	// bad terminal payload: L1.QTY (lines[0].qty): want a whole number, such as 12 or -3
}

func ExampleParse() {
	_, err := firmware.Parse("firmware-configs/tokai-pr500.yaml", []byte(`version: 1
line:
  baud: 9601
framing:
  stx: 0x03
payload:
  format: kv
  fields: {TRNO: txn, TX: txn}
`))
	fmt.Println(err)
	// Output:
	// firmware-configs/tokai-pr500.yaml:3: line.baud: 9601 is not a standard rate (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200)
	// firmware-configs/tokai-pr500.yaml:5: framing.stx: 0x03 is also the etx: stx, etx, ack and nak must all differ
	// firmware-configs/tokai-pr500.yaml:8: payload.fields.TX: txn is already the v1 name of TRNO (line 8): two terminal names cannot mean one message field
}
