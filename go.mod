module github.com/catmark/catmark

go 1.26.8
