struct Secret;

#[o11y::traced]
fn f(secret: Secret) {
    let _ = secret;
}

fn main() {
    f(Secret);
}
