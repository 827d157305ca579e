package catdata_test

import (
	"fmt"

	"github.com/catmark/catmark/catdata"
)

func ExampleParseCat() {
	p, err := catdata.ParseCat([]byte("9 175 160 239 162 199 199 149 121 137 78 166 93 281 101 312 72 287 123 "))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("left eye:", p[0], "right ear tip:", p[7])

	_, err = catdata.ParseCat([]byte("8 175 160 239 162 199 199 149 121 137 78 166 93 281 101 312 72 "))
	fmt.Println(err)
	// Output:
	// left eye: {175 160} right ear tip: {312 72}
	// wrong point count: 8 points declared (with 16 coordinates), want 9
}
