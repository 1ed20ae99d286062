fn main() {
    println!("dsmaster: under construction");
}
