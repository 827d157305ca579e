package main

import _ "github.com/catmark/catmark/engine/backends" // every engine backend this build has
