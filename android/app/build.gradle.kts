// The Wayfare rider app for Android Studio / Gradle. NOT run in this
// repository's CI, which has neither the Android Gradle Plugin nor the SDK:
// there, app/pom.xml compiles the same sources against Robolectric's
// android-all and runs the Robolectric tests (scripts/test-android.sh).
//
// The core comes as the AAR that bindings/android/build-aar.sh builds
// (native libraries for arm64-v8a, armeabi-v7a and x86_64, plus the
// generated Kotlin bindings).
plugins {
    id("com.android.application")
    id("org.jetbrains.kotlin.android")
}

// Firebase needs the operator's project: put its google-services.json next to
// this file and the Google services plugin configures Firebase from it.
// Without it the app builds and runs without push (the periodic drain only).
if (file("google-services.json").exists()) apply(plugin = "com.google.gms.google-services")

// The operator's control center, set once for release builds:
//   ./gradlew assembleRelease -Pwayfare.serverUrl=https://cc.example.com
// (or `wayfare.serverUrl=...` in gradle.properties). It lands in the
// manifest's app.wayfare.SERVER_URL meta-data, which Wayfare.serverUrl reads;
// a release build without it, or with a URL that is not https, fails (below).
val releaseServerUrl: Provider<String> = providers.gradleProperty("wayfare.serverUrl")

/** What a debug build talks to: wayfare-server on the host's loopback as the emulator sees it (10.0.2.2). */
val debugServerUrl = "http://10.0.2.2:8080"

android {
    namespace = "app.wayfare.android"
    compileSdk = 35
    defaultConfig {
        applicationId = "app.wayfare.android"
        minSdk = 26
        targetSdk = 35
        versionCode = 1
        versionName = "0.1.0"
    }
    buildTypes {
        getByName("debug") {
            manifestPlaceholders["wayfareServerUrl"] = debugServerUrl
        }
        getByName("release") {
            isMinifyEnabled = true
            proguardFiles(getDefaultProguardFile("proguard-android-optimize.txt"), "proguard-rules.pro")
            // Empty when unset: checkReleaseServerUrl fails the build before it gets that far.
            manifestPlaceholders["wayfareServerUrl"] = releaseServerUrl.getOrElse("")
        }
    }
    // src/firebase: the FirebaseMessagingService (push), which needs the Firebase SDK from
    // Google's Maven; the JVM build here (pom.xml) does not compile it.
    sourceSets["main"].java.srcDirs("src/main/kotlin", "src/firebase/kotlin")
    sourceSets["test"].java.srcDirs("src/test/kotlin")
    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
    testOptions {
        unitTests {
            isIncludeAndroidResources = true
            all {
                // The Robolectric suite needs the host build of the core and
                // the server/terminal binaries, as in scripts/test-android.sh.
                it.systemProperty("jna.library.path", rootProject.file("../target/debug").path)
                it.systemProperty("wayfare.bin.dir", rootProject.file("../target/debug").path)
                it.systemProperty("wayfare.screenshots.dir", layout.buildDirectory.dir("screenshots").get().asFile.path)
            }
        }
    }
}

kotlin { jvmToolchain(17) }

// A release build must name its operator's control center, over https:
// fail early and say how, rather than ship an app that cannot open a wallet.
val checkReleaseServerUrl by tasks.registering {
    val url = releaseServerUrl
    doLast {
        val value = url.orNull?.trim()
        if (value.isNullOrEmpty()) {
            throw GradleException(
                "A release build needs the control center's URL: pass -Pwayfare.serverUrl=https://... " +
                    "or set wayfare.serverUrl in gradle.properties (see android/README.md, Release configuration)."
            )
        }
        if (!value.startsWith("https://")) {
            throw GradleException("wayfare.serverUrl must be an https URL in a release build, not '$value'.")
        }
    }
}
tasks.matching { it.name == "preReleaseBuild" }.configureEach { dependsOn(checkReleaseServerUrl) }

dependencies {
    implementation(files("../../build/android/wayfare-core.aar"))
    implementation("net.java.dev.jna:jna:5.17.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-android:1.10.2")
    implementation("io.nayuki:qrcodegen:1.8.0")
    implementation("com.google.zxing:core:3.5.3")
    // Push to a closed app (src/firebase/.../WayfareMessagingService.kt).
    implementation(platform("com.google.firebase:firebase-bom:33.7.0"))
    implementation("com.google.firebase:firebase-messaging")
    testImplementation("junit:junit:4.13.2")
    testImplementation("org.robolectric:robolectric:4.16")
}
