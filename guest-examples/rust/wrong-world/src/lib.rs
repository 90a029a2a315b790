//! A component of another world (`export greet`), for the upload check to refuse.

wit_bindgen::generate!({
    inline: "
        package example:other;
        world greeter {
            export greet: func(name: string) -> string;
        }
    ",
});

struct Greeter;

impl Guest for Greeter {
    fn greet(name: String) -> String {
        format!("hello {name}")
    }
}

export!(Greeter);
