import CoreImage
import CoreImage.CIFilterBuiltins
import SwiftUI
import UIKit

/// A QR code image of a payload (an invitation's `qrPayload`), drawn with
/// CoreImage's generator and scaled without smoothing so it stays sharp.
struct QRCodeView: View {
    let payload: String

    var body: some View {
        if let image = QRCodeView.image(for: payload) {
            Image(uiImage: image)
                .interpolation(.none)
                .resizable()
                .scaledToFit()
                .accessibilityLabel(Text(L10n.t("qr.accessibility")))
        } else {
            Text(payload).font(.footnote.monospaced())
        }
    }

    static func image(for payload: String) -> UIImage? {
        let filter = CIFilter.qrCodeGenerator()
        filter.message = Data(payload.utf8)
        filter.correctionLevel = "M"
        guard let output = filter.outputImage?.transformed(by: CGAffineTransform(scaleX: 10, y: 10)) else {
            return nil
        }
        let context = CIContext()
        guard let cg = context.createCGImage(output, from: output.extent) else { return nil }
        return UIImage(cgImage: cg)
    }
}
