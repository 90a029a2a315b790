//! The `sandflow` binary.

fn main() {
    println!("sandflow");
}
