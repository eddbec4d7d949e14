#[o11y::traced(skip(password, pasword))]
fn login(user: &str, password: &str) -> bool {
    user != password
}

fn main() {
    login("a", "b");
}
