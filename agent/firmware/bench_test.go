package firmware

import "testing"

// BenchmarkDecodeRequest measures the translation of one basket of three
// lines from each shipped model's dialect to v1 JSON.
func BenchmarkDecodeRequest(b *testing.B) {
	basket := []byte(`{"v":1,"type":"basket","id":"m-17","txn":"t1-000123","customer":"4900123456789","coupons":["WELCOME5"],` +
		`"lines":[{"sku":"COF-001","qty":2,"price":350,"category":"coffee","name":"ブレンド M"},` +
		`{"sku":"ONI-002","qty":1,"price":140,"category":"onigiri","name":"おにぎり 鮭"},{"sku":"TEA-500","qty":3,"price":160}]}`)
	for _, name := range shippedModels(b) {
		m, err := Load(modelsDir, name)
		if err != nil {
			b.Fatal(err)
		}
		payload, err := m.EncodeRequest(basket)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(payload)))
			for b.Loop() {
				if _, err := m.DecodeRequest(payload); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeReply measures the translation of an offers reply with
// two offers and two nudges to each shipped model's dialect.
func BenchmarkEncodeReply(b *testing.B) {
	reply := replies()[0]
	for _, name := range shippedModels(b) {
		m, err := Load(modelsDir, name)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if _, err := m.EncodeReply(reply); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
