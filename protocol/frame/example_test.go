package frame_test

import (
	"fmt"

	"github.com/posoffer/posoffer/protocol/frame"
)

func ExampleEncode() {
	b, err := frame.Encode(frame.Default(), []byte(`{"v":1}`))
	if err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", b)

	// A terminal model whose LRC starts from 0x7F and covers the STX.
	cfg := frame.Default()
	cfg.LRCSeed, cfg.LRCCoversSTX = 0x7F, true
	b, _ = frame.Encode(cfg, []byte(`{"v":1}`))
	fmt.Printf("% x\n", b)

	_, err = frame.Encode(frame.Default(), []byte("a\x03b"))
	fmt.Println(err)
	// Output:
	// 02 7b 22 76 22 3a 31 7d 03 78
	// 02 7b 22 76 22 3a 31 7d 03 05
	// payload cannot be framed: byte 1 is 0x03, the frame's STX or ETX
}

func ExampleDecoder() {
	dec, err := frame.NewDecoder(frame.Default())
	if err != nil {
		panic(err)
	}
	good, _ := frame.Encode(frame.Default(), []byte(`{"v":1}`))
	// Bytes as a port might deliver them: noise, a frame split across two
	// reads, a frame with a bad LRC, and the terminal's ACK of a reply.
	reads := [][]byte{
		append([]byte("\x00\xff"), good[:4]...),
		append(good[4:], "\x02{\"v\":2}\x03\x00\x06"...),
	}
	for _, p := range reads {
		dec.Feed(p, func(ev frame.Event) {
			switch ev.Kind {
			case frame.EventFrame:
				fmt.Printf("frame %s: send ACK\n", ev.Payload)
			case frame.EventBadLRC, frame.EventOversize:
				fmt.Printf("%s (%d bytes): send NAK\n", ev.Kind, ev.N)
			default:
				fmt.Printf("%s (%d bytes)\n", ev.Kind, ev.N)
			}
		})
	}
	// Output:
	// garbage (2 bytes)
	// frame {"v":1}: send ACK
	// bad-lrc (10 bytes): send NAK
	// ack (1 bytes)
}

func ExampleConfig_lines() {
	cfg := frame.Config{Lines: true}
	dec, _ := frame.NewDecoder(cfg)
	dec.Feed([]byte("type=basket;id=m-1\r\n\r\ntype=void"), func(ev frame.Event) {
		fmt.Printf("%s %q\n", ev.Kind, ev.Payload)
	})
	fmt.Println("buffered:", dec.Buffered())
	// Output:
	// frame "type=basket;id=m-1"
	// garbage ""
	// buffered: 9
}
